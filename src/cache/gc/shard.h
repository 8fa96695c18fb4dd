// GcShard: the GC mark pass (gc/gc.h) over one range of the extents' keys.
// A pass cuts the key space into shards that threads walk at once; each
// shard reads the index through the pass's snapshot, so together they see
// it as it was when the pass started, whatever the cut points.
//
// Per extent it does what gc/gc.h describes: every copy is given to the
// allocator's gc_mark (and ptr_stale), stale extents and copies are staged
// for delete- or replace-if-unchanged. The allocator calls are made a
// chunk of extents at a time (CacheAllocator::gc_mark_many), so that
// threads do not take the bucket lock by turns for every pointer; marks
// add up the same in any order (the larger mark, the sum of the sectors
// capped at the bucket's size), so the result does not depend on how the
// extents were cut into shards and chunks.
//
// Thread safety: none; one thread advances a shard at a time. Shards of one
// pass may be advanced by different threads at once: what they share (the
// index, the allocators, the logger, the verifier) is safe for that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"

namespace bcl {

struct GcPassStats {
    std::uint64_t extents = 0;
    std::uint64_t live = 0;
    std::uint64_t stale_deleted = 0;
    // Stale to GC but still read: their bucket waits for reuse (kept).
    std::uint64_t awaiting_reuse = 0;
    std::uint64_t dropped = 0;       // drop_all
    std::uint64_t dirty_bytes = 0;   // bytes of the live dirty extents
    std::uint64_t pinned_bytes = 0;  // bytes of the live pinned extents
    std::uint64_t dirty_failed = 0;  // drop_all: dirty extents whose data failed its checksum
    std::uint64_t undecodable = 0;   // entries whose value does not decode (skipped; fsck's business)
    // Extents that lost a copy whose bucket was reused, another staying live.
    std::uint64_t copies_dropped = 0;

    GcPassStats& operator+=(const GcPassStats& o);
    bool operator==(const GcPassStats&) const = default;
};

// Whether the data of a dirty extent still matches its checksum. Called
// from the threads that walk shards, several at once.
using DirtyVerifier = std::function<bool(const Extent&)>;

// What every shard of one pass reads and calls; set when the pass starts.
struct GcWalk {
    Index& index;
    AllocSet& alloc;
    Logger& log;
    const IndexSnapshot* snapshot = nullptr;
    bool drop_all = false;
    const DirtyVerifier* verify_dirty = nullptr;  // may be empty
    std::size_t batch = 4096;                     // most deletes staged before they are committed
    std::size_t readahead_bytes = 0;              // ExtentScanOptions::readahead_bytes
};

class GcShard {
public:
    // The extents with keys in [from, end); no end: to the last one.
    GcShard(ExtentKey from, std::optional<ExtentKey> end) : next_(from), end_(end) {}

    bool done() const { return done_; }
    const GcPassStats& stats() const { return stats_; }
    // Walks up to `limit` more extents (all that are left with SIZE_MAX).
    // On an index error the shard stops there (what it marked stays
    // marked) and the error is returned.
    Status advance(const GcWalk& walk, std::size_t limit);

private:
    // One extent read and waiting for its marks.
    struct Pending {
        ExtentKey key;
        ExtentValue value;
        bool drop = false;
        // Per copy: counted by gc_mark, readable (!ptr_stale), and whether
        // its device exists at all.
        bool counted[kMaxExtentPtrs] = {};
        bool readable[kMaxExtentPtrs] = {};
        bool no_device[kMaxExtentPtrs] = {};
    };
    struct PtrRef {
        std::size_t pending;
        unsigned ptr;
    };

    Status read_chunk(const GcWalk& walk, ExtentCursor& cursor, std::size_t limit);
    void stage(const GcWalk& walk, const ExtentKey& key, const ExtentValue& value);
    void mark_chunk(const GcWalk& walk);
    void settle(const GcWalk& walk, const Pending& p, IndexBatch& deletes);

    ExtentKey next_;
    std::optional<ExtentKey> end_;
    bool done_ = false;
    GcPassStats stats_;
    // Reused from chunk to chunk: no allocation per extent.
    std::vector<Pending> pending_;
    std::vector<std::vector<CacheAllocator::GcPtrMark>> marks_;  // per device
    std::vector<std::vector<PtrRef>> refs_;                      // parallel to marks_
};

}  // namespace bcl
