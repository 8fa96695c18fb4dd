// WritebackRate: bcache's writeback rate controller (__update_writeback_rate),
// in bytes instead of sectors. See writeback_tunables.h for the rule.
//
// Thread safety: none; the cache set updates it on its backing strand and reads a
// copy of the figures through its own lock.
#pragma once

#include <chrono>
#include <cstdint>

#include "bcachefs_lite/cache/writeback_tunables.h"

namespace bcl {

class WritebackRate {
public:
    // bcache's writeback_rate_p_term_inverse and _i_term_inverse.
    static constexpr std::int64_t kPTermInverse = 40;
    static constexpr std::int64_t kITermInverse = 10000;

    explicit WritebackRate(std::uint64_t minimum) : rate_(minimum) {}

    // One controller update, `interval` after the last one. `keeping_up`:
    // writeback managed the rate asked of it since the last update; the
    // integral only grows while it does (anti-windup).
    void update(std::uint64_t dirty, std::uint64_t target, std::uint64_t minimum, std::chrono::seconds interval,
                bool keeping_up);

    std::uint64_t rate() const { return rate_; }
    std::int64_t proportional() const { return proportional_; }
    std::int64_t integral() const { return integral_scaled_; }

private:
    std::uint64_t rate_;
    std::int64_t integral_sum_ = 0;  // sum of error * seconds, in byte-seconds
    std::int64_t proportional_ = 0;
    std::int64_t integral_scaled_ = 0;
};

}  // namespace bcl
