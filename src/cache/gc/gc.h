// GcJob: the mark pass of GC (bcache's btree_gc, reduced to what an index
// in RocksDB needs). A pass is gc_start() on every allocator, then a
// snapshot of the index (Index::take_snapshot), so that the pass reads the
// index as it was just after the marks were cleared; the extents' keys are
// cut into shards (Index::split_extents) that several threads walk at once
// (gc/shard.h), each marking the live extents with gc_mark(). Stale ones
// (gen not the bucket's) are deleted with delete-if-unchanged, so an
// extent replaced meanwhile is left alone. An extent with the old gen of a
// bucket waiting for reuse is stale to gc_mark() (not counted, so it keeps
// no bucket in use) but still read (ptr_stale() is false): it stays, and
// the first pass after the bucket is handed out deletes it. The last step
// calls gc_finish().
//
// Why one snapshot is enough while inserts go on: a bucket's marks are
// cleared at gc_start() only if nothing pins it, and a write keeps its
// bucket pinned until its extent is in the index; so every extent in a
// bucket whose marks were cleared was indexed before the pass started, and
// the snapshot holds it. An insert made later went into a bucket that was
// pinned then, whose marks it set itself (dirty and pinned data included);
// the next pass counts it. An extent removed after the snapshot is still
// counted: its bucket looks fuller than it is until the next pass, which is
// the safe side.
//
// The pass runs either in bounded steps (step(): up to `batch` extents
// over the first shards not yet done, one thread each, on the cache set's
// strand) or at once (run_pass(): every thread takes shard after shard
// until none is left). Each thread is joined before the call returns.
//
// With drop_all (the first pass after an unclean shutdown) every clean
// extent is deleted instead of marked; dirty extents are marked as always:
// their data was on the cache device before they were indexed (rule 2 of
// index_format.h), and nothing else holds it. But their data may not have
// been durable when their entry was (a power loss, not a process crash):
// `verify_dirty`, when set, checks each one's checksum in that pass, and
// one that fails it is dropped (never synced, so never acknowledged). Starting a pass rearms the cache set's GC
// countdown (core/gc_countdown.h): the pass accounts for what was written so far.
//
// Thread safety: none; the cache set runs it on its strand (or, in manual
// mode and at open, on the owner's thread while nothing else runs it). The
// threads it starts for a step or a pass are its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/cache/stats.h"
#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"
#include "core/gc_countdown.h"
#include "gc/shard.h"
#include "gc/snapshot.h"

namespace bcl {

// Where a pass cuts the extents' keys, given how many shards it wants:
// strictly increasing keys, fewer when the index is small.
using GcSplit = std::function<std::vector<ExtentKey>(const Index&, unsigned shards)>;

struct GcOptions {
    // Extents one step() walks. Default: 4096.
    std::size_t batch = 4096;
    // Threads that walk shards at once; 0: one per hardware thread, at
    // least 2. Default: 0.
    unsigned threads = 0;
    // Checks dirty data in a drop_all pass (see above); called from the
    // walking threads, several at once. Default: none.
    DirtyVerifier verify_dirty;
    // Default: Index::split_extents. Tests choose their own cuts.
    GcSplit split;
};

class GcJob {
public:
    GcJob(Index& index, AllocSet& alloc, CacheCounters& counters, GcCountdown& countdown, Logger& log,
          GcOptions options);
    ~GcJob();

    bool running() const { return running_; }
    // Threads a step or a pass uses.
    unsigned threads() const { return threads_; }
    // Starts a pass (gc_start on every allocator). Not while running.
    void start(bool drop_all = false);
    // One bounded step of the running pass; true while more steps remain.
    // On an index error the pass is finished early (marks stay as counted,
    // GC marks valid again) and the error returned.
    Result<bool> step();
    // Starts a pass unless one runs, and runs it to the end.
    Status run_pass(bool drop_all = false);
    const GcPassStats& last_pass() const { return last_; }
    // The marks and totals of the last pass, as the allocators hold them
    // now: a complete pass with nothing run since (gc/snapshot.h).
    GcSnapshot snapshot() const;
    // Gives the allocators the marks of `snapshot` as a complete pass would
    // (gc_start, gc_mark, gc_finish) without reading the index; last_pass()
    // then has its totals. Errc::invalid when it does not fit the devices
    // (nothing changed then). Not while a pass runs.
    Status restore(const GcSnapshot& snapshot);

private:
    void clear_marks();
    GcWalk walk() const;
    // The first error of a shard, in key order; finishes the pass then.
    Status first_error(std::vector<Status>& results);
    // Ends the pass with the shards' totals, or with `totals`.
    void finish();
    void finish_with(const GcPassStats& totals);

    Index& index_;
    AllocSet& alloc_;
    CacheCounters& counters_;
    GcCountdown& countdown_;
    Logger& log_;
    const std::size_t batch_;
    const unsigned threads_;
    const DirtyVerifier verify_dirty_;
    const GcSplit split_;
    bool running_ = false;
    bool drop_all_ = false;
    std::unique_ptr<IndexSnapshot> view_;  // the pass's; released by finish()
    std::vector<GcShard> shards_;          // in key order
    GcPassStats last_;
};

}  // namespace bcl
