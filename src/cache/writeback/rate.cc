#include "writeback/rate.h"

#include <algorithm>
#include <cstdint>

namespace bcl {

void WritebackRate::update(std::uint64_t dirty, std::uint64_t target, std::uint64_t minimum,
                           std::chrono::seconds interval, bool keeping_up) {
    const std::int64_t error = static_cast<std::int64_t>(dirty) - static_cast<std::int64_t>(target);
    proportional_ = error / kPTermInverse;
    // Shrink the integral whenever dirty is under target and it is
    // positive; grow it only while writeback keeps up, or a backing store
    // slower than the rate would wind it up without bound.
    if ((error < 0 && integral_sum_ > 0) || (error > 0 && keeping_up)) {
        // Saturating: a huge cache far above target must not wrap around.
        const std::int64_t saturated = error > 0 ? INT64_MAX : INT64_MIN;
        std::int64_t step;
        if (__builtin_mul_overflow(error, static_cast<std::int64_t>(interval.count()), &step)) step = saturated;
        if (__builtin_add_overflow(integral_sum_, step, &integral_sum_)) integral_sum_ = saturated;
    }
    integral_scaled_ = integral_sum_ / kITermInverse;
    const std::int64_t wanted = proportional_ + integral_scaled_;
    rate_ = static_cast<std::uint64_t>(std::clamp<std::int64_t>(wanted, static_cast<std::int64_t>(minimum),
                                                                static_cast<std::int64_t>(kWritebackRateMax)));
}

}  // namespace bcl
