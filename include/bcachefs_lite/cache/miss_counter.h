// MissCounter: how many times each recently missed range was missed, for
// the nhit promotion policy (promotion.h), in a table whose size is fixed
// when it is made: it never grows, whatever the number of files or ranges.
//
// The table is an array of slots indexed by the low bits of the range's
// 64-bit hash; a slot holds a 24-bit tag (high bits of the hash) and an
// 8-bit saturating count. A miss of a range whose tag is in its slot counts
// up; a miss of another range takes the slot over with a count of 1 (the
// older range is forgotten: at worst it needs its misses again). Two
// ranges that share slot and tag share a count, one chance in 2^24.
//
// Aging: every slots() recorded misses, every count is halved (a count of 1
// drops to 0 and frees its slot), so old counts fade and a range must be
// missed promote_hits times within a window of the order of slots() misses
// to count as hot. The miss that ends a window does the halving, one pass
// over the table: O(1) per miss on average.
//
// Thread safety: record() and count() may be called from any thread at
// once; slots are updated with compare-and-swap, no lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace bcl {

class MissCounter {
public:
    // A count saturates here.
    static constexpr unsigned kMaxCount = 255;
    static constexpr std::size_t kMinSlots = 64;
    // At most 2^24 slots (64 MiB): beyond that the index would eat into the tag.
    static constexpr std::size_t kMaxSlots = std::size_t{1} << 24;

    // `slots` is rounded up to a power of two within [kMinSlots, kMaxSlots].
    explicit MissCounter(std::size_t slots);
    MissCounter(const MissCounter&) = delete;
    MissCounter& operator=(const MissCounter&) = delete;

    // Counts one miss of the range whose hash is `hash` (well mixed: see
    // range_hash() in promotion.h); returns its count with this miss, 1 to
    // kMaxCount.
    unsigned record(std::uint64_t hash);
    // Its count without counting a miss: 0 when it is not remembered.
    unsigned count(std::uint64_t hash) const;

    std::size_t slots() const { return mask_ + 1; }
    // What the table takes in memory; fixed at construction.
    std::size_t memory_bytes() const { return slots() * sizeof(std::atomic<std::uint32_t>); }
    // Halvings done so far.
    std::uint64_t agings() const { return agings_.load(std::memory_order_relaxed); }

private:
    void age();

    const std::size_t mask_;
    std::unique_ptr<std::atomic<std::uint32_t>[]> slots_;
    std::atomic<std::int64_t> until_aging_;
    std::atomic<std::uint64_t> agings_{0};
};

}  // namespace bcl
