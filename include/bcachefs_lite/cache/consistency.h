// The consistency check of a cache set's bucket accounting against its
// index. Tests run it after each GC pass; fsck will run it too.
//
// It streams every extent of the index (never loading it whole) and checks:
//  - every extent's device and bucket exist;
//  - no two extents of one file overlap;
//  - no extent whose gen is current (a live extent) points into a bucket
//    that is on free_inc or a freelist (an extent with such a bucket's old
//    gen, which reads are still served from, counts as stale);
//  - only a bucket on free_inc or a freelist serves reads of a gen other
//    than its current one;
//  - per bucket, the live sectors of its current-gen extents equal the
//    allocator's sectors_used, and a bucket holding live data is marked at
//    least reclaimable. Pinned buckets (open buckets, allocations in
//    flight) are exempt from the equality: the allocator keeps their marks
//    across GC, so their sectors_used may only be at least the live count.
// The equality holds right after a GC pass with no foreground I/O since:
// writes free sectors that the allocator learns of only at the next GC.
//
// Thread safety: reads the index through one snapshot cursor at a time and
// the allocator through its locked accessors; safe to call concurrently
// with anything, but only meaningful when the cache set is quiescent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

struct ConsistencyReport {
    std::uint64_t extents = 0;        // extents seen
    std::uint64_t stale_extents = 0;  // whose gen is not their bucket's
    std::uint64_t live_sectors = 0;   // sectors of the others
    // One line per problem found (at most kMaxProblems are kept).
    std::vector<std::string> problems;
    std::uint64_t problem_count = 0;

    static constexpr std::size_t kMaxProblems = 64;
    bool ok() const { return problem_count == 0; }
};

// Errors only when the index cannot be read.
Result<ConsistencyReport> check_consistency(const Index& index, const AllocSet& alloc);

}  // namespace bcl
