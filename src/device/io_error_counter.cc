#include "bcachefs_lite/device/io_error_counter.h"

namespace bcl {

IoErrorTunables IoErrorCounter::tunables() const {
    std::lock_guard lk(mutex_);
    return IoErrorTunables{limit_, decay_ * kIoErrorHalflifeSteps};
}

void IoErrorCounter::set_tunables(const IoErrorTunables& tunables) {
    std::lock_guard lk(mutex_);
    limit_ = tunables.io_error_limit;
    decay_ = tunables.io_error_halflife / kIoErrorHalflifeSteps;
}

bool IoErrorCounter::count(bool failed) {
    std::lock_guard lk(mutex_);
    ++ios_;
    if (decay_ != 0) {
        // One 127/128 step per decay_ I/Os: after 88 steps an error
        // weighs about half.
        if (++since_decay_ >= decay_) {
            since_decay_ = 0;
            errors_ = errors_ * 127 / 128;
        }
    }
    if (!failed) return false;
    errors_ += std::uint64_t{1} << kShift;
    return (errors_ >> kShift) >= limit_;
}

std::uint64_t IoErrorCounter::errors() const {
    std::lock_guard lk(mutex_);
    return errors_ >> kShift;
}

std::uint64_t IoErrorCounter::ios() const {
    std::lock_guard lk(mutex_);
    return ios_;
}

}  // namespace bcl
