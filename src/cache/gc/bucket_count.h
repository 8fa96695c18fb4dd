// How many data buckets a cache set has and how many of them hold nothing
// live, as the allocators know it now: buckets GC marked unused that no one
// pins, plus the buckets waiting on free_inc and the freelists (those are
// pinned, so nothing is counted twice; their old data may still be read
// until they are handed out, but nothing keeps them from reuse). Sectors freed by writes since the
// last GC are not known to the allocator and not counted.
//
// It walks every bucket of every device, taking the allocator's lock per
// bucket: O(buckets). Cheap enough for statistics reads on today's cache
// sizes; an allocator counter (bcache's avail_nbuckets) would make it O(1).
//
// Thread safety: safe to call from any thread; reads only through the
// allocators' locked accessors.
#pragma once

#include <cstdint>
#include <optional>

#include "bcachefs_lite/alloc/alloc_set.h"

namespace bcl {

struct BucketCount {
    std::uint64_t total = 0;
    std::uint64_t free = 0;
};

// Whether every device's GC marks are valid: no GC pass is counting them.
bool gc_marks_valid(const AllocSet& alloc);

// The count, or nullopt while a GC pass runs on any device (its marks are
// being rebuilt and would show live buckets as unused).
std::optional<BucketCount> count_buckets(const AllocSet& alloc);

}  // namespace bcl
