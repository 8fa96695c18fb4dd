// Overlap resolution as a pure function: given the extents of one file
// that overlap a byte range, what must be deleted and written so that the
// range holds no extent any more (bcache's extent insert, minus the
// insert). Kept apart from RocksDB so it can be tested on its own.
//
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "bcachefs_lite/index/index_types.h"

namespace bcl::index_detail {

struct OverlapPlan {
    // Keys to delete (extents that vanish or whose end moves).
    std::vector<ExtentKey> deletes;
    // Pieces to write; applied after the deletes (a piece may reuse the key
    // of an extent it came from).
    std::vector<Extent> puts;
    // What was taken away, one entry per extent touched.
    std::vector<ExtentOverwrite> overwrites;
};

// `overlapping`: extents of one file, in key order, not overlapping each
// other, each overlapping [start, end). start < end; every offset a
// multiple of kSectorSize.
OverlapPlan plan_clear_range(std::span<const Extent> overlapping, std::uint64_t start, std::uint64_t end);

}  // namespace bcl::index_detail
