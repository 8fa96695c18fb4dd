#include "bcachefs_lite/cache/miss_counter.h"

#include <algorithm>

#include "bcachefs_lite/util/aligned_buffer.h"

namespace bcl {

namespace {

constexpr std::uint32_t kCountMask = 0xff;

std::uint32_t tag_of(std::uint64_t hash) { return static_cast<std::uint32_t>(hash >> 40) << 8; }

std::size_t slot_count(std::size_t wanted) {
    return static_cast<std::size_t>(
        roundup_pow_of_two(std::clamp(wanted, MissCounter::kMinSlots, MissCounter::kMaxSlots)));
}

}  // namespace

MissCounter::MissCounter(std::size_t slots)
    : mask_(slot_count(slots) - 1),
      slots_(std::make_unique<std::atomic<std::uint32_t>[]>(mask_ + 1)),  // all 0: empty
      until_aging_(static_cast<std::int64_t>(mask_ + 1)) {}

unsigned MissCounter::record(std::uint64_t hash) {
    std::atomic<std::uint32_t>& slot = slots_[hash & mask_];
    const std::uint32_t tag = tag_of(hash);
    std::uint32_t old = slot.load(std::memory_order_relaxed);
    std::uint32_t next = 0;
    do {
        const std::uint32_t count = old & kCountMask;
        const bool ours = (old & ~kCountMask) == tag && count != 0;
        next = tag | (ours ? std::min<std::uint32_t>(count + 1, kMaxCount) : 1);
    } while (!slot.compare_exchange_weak(old, next, std::memory_order_relaxed));
    // Exactly one miss takes the countdown from 1 to 0 and ages the table.
    if (until_aging_.fetch_sub(1, std::memory_order_relaxed) == 1) {
        age();
        until_aging_.fetch_add(static_cast<std::int64_t>(slots()), std::memory_order_relaxed);
    }
    return next & kCountMask;
}

unsigned MissCounter::count(std::uint64_t hash) const {
    const std::uint32_t v = slots_[hash & mask_].load(std::memory_order_relaxed);
    return (v & ~kCountMask) == tag_of(hash) ? v & kCountMask : 0;
}

void MissCounter::age() {
    for (std::size_t i = 0; i <= mask_; ++i) {
        std::uint32_t old = slots_[i].load(std::memory_order_relaxed);
        std::uint32_t next = 0;
        do {
            const std::uint32_t halved = (old & kCountMask) >> 1;
            next = halved == 0 ? 0 : (old & ~kCountMask) | halved;
        } while (next != old && !slots_[i].compare_exchange_weak(old, next, std::memory_order_relaxed));
    }
    agings_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace bcl
