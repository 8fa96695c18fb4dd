// PromotionPolicy: decides whether a read miss is copied into the cache,
// as promotion_tunables.h describes (promote=always|nhit, promote_hits,
// promote_trigger_percent), counting the misses of nhit in a MissCounter
// of fixed size.
//
// A missed range is the block-aligned range one backing read would insert:
// (file id, offset, length). Its misses are counted as one key, so a range
// missed again as part of a differently cut request counts afresh; the
// common repeat, the same read again, counts as the same range.
//
// Misses are counted only while nhit applies (the cache at least
// promote_trigger_percent full): below the trigger every miss is inserted
// anyway, and promote=always neither counts nor touches the table.
//
// Thread safety: admit(), tunables() and set_tunables() may be called from
// any thread at once. The tunables are one atomic word, so admit() sees
// either the old or the new set, never a mix; nothing on its path locks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "bcachefs_lite/cache/miss_counter.h"
#include "bcachefs_lite/cache/promotion_tunables.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// Slots of the miss table when the owner does not say; see
// miss_table_slots().
inline constexpr std::size_t kMinMissTableSlots = 4096;
inline constexpr std::size_t kMaxMissTableSlots = std::size_t{1} << 20;  // 4 MiB

// The miss table for a cache of `data_blocks` blocks: about one slot per
// block, within [kMinMissTableSlots, kMaxMissTableSlots]. A range that
// comes back within about as many misses as the cache holds blocks would
// have been a hit in an LRU cache of that size, so that is the window nhit
// remembers; the cap keeps a huge cache's table at 4 MiB.
std::size_t miss_table_slots(std::uint64_t data_blocks);

// A missed range, block-aligned.
struct MissRange {
    std::uint64_t file_id = 0;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

// The key of a range in the miss table: a well-mixed 64-bit hash.
std::uint64_t range_hash(const MissRange& range);

// How full the cache is: `used` of `total` units (buckets). total == 0
// means unknown, and counts as full.
struct CacheFill {
    std::uint64_t used = 0;
    std::uint64_t total = 0;
};

class PromotionPolicy {
public:
    // `tunables` must pass validate(); table_slots as MissCounter takes it.
    PromotionPolicy(const PromotionTunables& tunables, std::size_t table_slots);
    PromotionPolicy(const PromotionPolicy&) = delete;
    PromotionPolicy& operator=(const PromotionPolicy&) = delete;

    PromotionTunables tunables() const;
    // Errc::invalid (nothing changed) for values out of range. Counts
    // already in the table stay.
    Status set_tunables(const PromotionTunables& tunables);

    // Whether the missed range goes into the cache now; a miss nhit keeps
    // out is counted, so that its next misses can get it in.
    bool admit(const MissRange& range, const CacheFill& fill);

    const MissCounter& table() const { return misses_; }

private:
    std::atomic<std::uint32_t> packed_;  // the tunables, packed
    MissCounter misses_;
};

}  // namespace bcl
