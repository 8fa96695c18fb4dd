// bcache's priority_stats: what the data buckets of a cache set hold, by
// GC mark, and how long ago their data was last used, by bucket prio.
//
// A bucket's prio is set to kInitialPrio when it is filled or hit and aged
// towards 0 as the cache is read (alloc/bucket_table.h); its age here is
// kInitialPrio - prio. The quantiles are the ages of the buckets that hold
// live data, youngest first, at every 32nd of them: a cache whose later
// quantiles stay small is hit all over, one whose ages climb steeply holds
// much that is not read any more.
//
// Thread safety: priority_stats() reads the allocators through their
// locked accessors, from any thread; the rest are plain values and pure
// functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

struct PriorityStats {
    static constexpr std::size_t kQuantiles = 31;

    std::uint64_t buckets = 0;  // data buckets of every device
    // Buckets by GC mark; unused counts the free ones too.
    std::uint64_t unused = 0;
    std::uint64_t clean = 0;
    std::uint64_t dirty = 0;
    std::uint64_t pinned = 0;
    // Mean age of the buckets that hold live data (0 when none does).
    std::uint64_t average_age = 0;
    // Sectors of live buckets each quantile stands for.
    std::uint64_t sectors_per_quantile = 0;
    std::array<std::uint32_t, kQuantiles> quantiles{};
};

// Of every device, or of `only_device`. Errc::again while a GC pass runs
// on any device: its marks are being counted again, and the percentages
// would come out wrong.
Result<PriorityStats> priority_stats(const AllocSet& alloc, std::optional<unsigned> only_device);

// As bcache prints it, with Pinned for bcache's Metadata:
//   Unused:         12%
//   Clean:          80%
//   Dirty:          8%
//   Pinned:         0%
//   Average:        1234
//   Sectors per Q:  4096
//   Quantiles:      [0 0 12 ... 30000]
// Percentages are of all data buckets, rounded down.
std::string format_priority_stats(const PriorityStats& stats);

}  // namespace bcl
