#include "writeback_rate.h"

#include <algorithm>

namespace bcl {

void WritebackRate::update(std::uint64_t dirty, std::uint64_t target, std::uint64_t minimum,
                           std::chrono::seconds interval, bool keeping_up) {
    const std::int64_t error = static_cast<std::int64_t>(dirty) - static_cast<std::int64_t>(target);
    proportional_ = error / kPTermInverse;
    // Shrink the integral whenever dirty is under target and it is
    // positive; grow it only while writeback keeps up, or a backing store
    // slower than the rate would wind it up without bound.
    if ((error < 0 && integral_sum_ > 0) || (error > 0 && keeping_up))
        integral_sum_ += error * static_cast<std::int64_t>(interval.count());
    integral_scaled_ = integral_sum_ / kITermInverse;
    const std::int64_t wanted = proportional_ + integral_scaled_;
    rate_ = static_cast<std::uint64_t>(
        std::clamp<std::int64_t>(wanted, static_cast<std::int64_t>(minimum),
                                 static_cast<std::int64_t>(kWritebackRateMax)));
}

}  // namespace bcl
