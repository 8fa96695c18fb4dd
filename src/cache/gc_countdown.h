// GcCountdown: bcache's sectors_to_gc. Every sector written to the cache
// counts down from a budget of a sixteenth of the cache's data sectors;
// the one write that takes it below zero is told so, and only that one, so
// that one countdown asks for one GC pass. The countdown is rearmed when a
// pass starts: writes made during a pass count towards the next one.
//
// Thread safety: consume() may be called from any thread; rearm() from the
// thread that starts GC passes (the strand, or the owner in manual mode).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace bcl {

class GcCountdown {
public:
    // budget: sectors between two passes (at least 1).
    explicit GcCountdown(std::uint64_t budget)
        : budget_(static_cast<std::int64_t>(std::max<std::uint64_t>(budget, 1))), left_(budget_) {}

    // Counts `sectors` written; true when this call used up the budget.
    bool consume(std::uint64_t sectors) {
        const auto n = static_cast<std::int64_t>(sectors);
        const std::int64_t before = left_.fetch_sub(n, std::memory_order_acq_rel);
        return before >= 0 && before - n < 0;
    }
    void rearm() { left_.store(budget_, std::memory_order_release); }

private:
    const std::int64_t budget_;
    std::atomic<std::int64_t> left_;
};

}  // namespace bcl
