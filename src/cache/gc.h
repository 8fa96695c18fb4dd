// GcJob: the mark pass of GC (bcache's btree_gc, reduced to what an index
// in RocksDB needs). A pass is gc_start() on every allocator, then bounded
// steps that each stream up to `batch` extents from where the last one
// stopped (a fresh cursor per step, so no snapshot is held across steps)
// and gc_mark() the live ones; stale ones (gen not the bucket's) are
// deleted in one batch per step with delete-if-unchanged, so an extent
// replaced meanwhile is left alone. An extent with the old gen of a bucket
// waiting for reuse is stale to gc_mark() (not counted, so it keeps no
// bucket in use) but still read (ptr_stale() is false): it stays, and the
// first pass after the bucket is handed out deletes it. The last step calls gc_finish().
// With drop_all (the first pass after an unclean shutdown) every clean
// extent is deleted instead of marked; dirty extents are marked as always:
// their data was on the cache device before they were indexed (rule 2 of
// index_format.h), and nothing else holds it. But their data may not have
// been durable when their entry was (a power loss, not a process crash):
// `verify_dirty`, when set, checks each one's checksum in that pass, and
// one that fails it is dropped (never synced, so never acknowledged). Starting a pass rearms the cache set's GC
// countdown (gc_countdown.h): the pass accounts for what was written so far.
//
// Thread safety: none; the cache set runs it on its strand (or, in manual
// mode and at open, on the owner's thread while nothing else runs it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/cache/stats.h"
#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"
#include "gc_countdown.h"
#include "gc_snapshot.h"

namespace bcl {

struct GcPassStats {
    std::uint64_t extents = 0;
    std::uint64_t live = 0;
    std::uint64_t stale_deleted = 0;
    // Stale to GC but still read: their bucket waits for reuse (kept).
    std::uint64_t awaiting_reuse = 0;
    std::uint64_t dropped = 0;  // drop_all
    std::uint64_t dirty_bytes = 0;  // bytes of the live dirty extents
    std::uint64_t pinned_bytes = 0; // bytes of the live pinned extents
    std::uint64_t dirty_failed = 0; // drop_all: dirty extents whose data failed its checksum
    std::uint64_t undecodable = 0;  // entries whose value does not decode (skipped; fsck's business)
    // Extents that lost a copy whose bucket was reused, another staying live.
    std::uint64_t copies_dropped = 0;
};

// Whether the data of a dirty extent still matches its checksum.
using DirtyVerifier = std::function<bool(const Extent&)>;

class GcJob {
public:
    GcJob(Index& index, AllocSet& alloc, CacheCounters& counters, GcCountdown& countdown, Logger& log,
          std::size_t batch, DirtyVerifier verify_dirty = {})
        : index_(index), alloc_(alloc), counters_(counters), countdown_(countdown), log_(log),
          batch_(batch ? batch : 1), verify_dirty_(std::move(verify_dirty)) {}

    bool running() const { return running_; }
    // Starts a pass (gc_start on every allocator). Not while running.
    void start(bool drop_all = false);
    // One bounded step of the running pass; true while more steps remain.
    // On an index error the pass is finished early (marks stay as counted,
    // GC marks valid again) and the error returned.
    Result<bool> step();
    // start() and step() until done.
    Status run_pass(bool drop_all = false);
    const GcPassStats& last_pass() const { return last_; }
    // The marks and totals of the last pass, as the allocators hold them
    // now: a complete pass with nothing run since (gc_snapshot.h).
    GcSnapshot snapshot() const;
    // Gives the allocators the marks of `snapshot` as a complete pass would
    // (gc_start, gc_mark, gc_finish) without reading the index; last_pass()
    // then has its totals. Errc::invalid when it does not fit the devices
    // (nothing changed then). Not while a pass runs.
    Status restore(const GcSnapshot& snapshot);

private:
    void finish();

    Index& index_;
    AllocSet& alloc_;
    CacheCounters& counters_;
    GcCountdown& countdown_;
    Logger& log_;
    const std::size_t batch_;
    const DirtyVerifier verify_dirty_;
    bool running_ = false;
    bool drop_all_ = false;
    bool at_end_ = false;
    ExtentKey next_{};
    GcPassStats cur_;
    GcPassStats last_;
};

}  // namespace bcl
