// GcCountdown: bcache's sectors_to_gc. Every sector written to the cache
// counts down from a budget of a sixteenth of the cache's data sectors;
// the one write that takes it below zero is told so, and only that one, so
// that one countdown asks for one GC pass. The countdown is rearmed when a
// pass starts: writes made during a pass count towards the next one.
//
// It also knows whether a pass could find anything new: only writes to
// the cache and changes that free data (overwrites, writeback marking data
// clean, drops) change what GC would mark. A pass asked for by an allocator
// that found nothing to invalidate is pointless without one of them; with a
// cache full of dirty data it would run back to back.
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
        if (sectors != 0) changed_.store(true, std::memory_order_release);
        const auto n = static_cast<std::int64_t>(sectors);
        const std::int64_t before = left_.fetch_sub(n, std::memory_order_acq_rel);
        return before >= 0 && before - n < 0;
    }
    // Something was freed or made reclaimable.
    void note_change() { changed_.store(true, std::memory_order_release); }
    // Whether anything was written or freed since the last rearm().
    bool changed() const { return changed_.load(std::memory_order_acquire); }
    void rearm() {
        changed_.store(false, std::memory_order_release);
        left_.store(budget_, std::memory_order_release);
    }

private:
    std::atomic<bool> changed_{false};
    const std::int64_t budget_;
    std::atomic<std::int64_t> left_;
};

}  // namespace bcl
