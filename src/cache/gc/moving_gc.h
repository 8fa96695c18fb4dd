// Moving GC (bcache's movinggc.c): when few buckets are free while many
// hold only a little live data, the live extents of the sparsest buckets are
// copied to fresh buckets, so that the next GC pass finds the old ones
// empty and the allocator reuses them before it evicts any live data.
//
// A round, on the cache set's strand (MovingGc, gc/moving_gc.cc):
//   1. After a GC pass (its marks are fresh), if copy_gc_enabled, the cache
//      is in service and free buckets are low (free_buckets_low()), every
//      bucket that is reclaimable or dirty, unpinned and partly used is a
//      candidate; choose_moving_buckets() picks the sparsest of them.
//   2. Bounded steps stream the index from where the last one stopped (a
//      fresh cursor per step, as GC does) and copy each extent that points
//      into a chosen bucket with the gen it had when chosen: the source
//      bucket is pinned for the copy, the data read and checked against its
//      checksum, written through the movinggc reserve (write_prio), and the
//      index entry swapped with replace_extent_if_unchanged. An extent
//      changed meanwhile keeps its new value; the copy is wasted space that
//      the next GC pass does not count. A read error, a stale gen or a bad
//      checksum skips the extent (it stays where it is).
//   3. When the scan ends, a round that moved anything asks for a GC pass:
//      it finds the chosen buckets empty, and the allocator takes them first
//      (their LRU cost is 0).
//
// An extent with two copies (replicated dirty data) has only the copy in
// the chosen bucket moved, to a device none of its other copies is on. The
// copies share one checksum (extent_format.h): the moved bytes, checked
// against the old one, get a checksum of their own, which describes the
// other copies too (they hold the same bytes at their sectors).
//
// Dirty data stays dirty in its new place; its new bucket is marked dirty
// under the allocation's pin, as a dirty write does. Crash safety: a batch
// that moves dirty data is committed synced, and a synced commit flushes the
// cache device first (IndexOptions::before_durable), so the new copy and the
// entry pointing at it are durable before any GC pass can see the old bucket
// without dirty data, let alone before the allocator can bump its gen and
// rewrite it. Clean moves are committed unsynced: after a crash the first
// GC pass drops every clean extent anyway.
//
// Thread safety: MovingGc's after_pass() and its steps, and
// MovingGcRound, are used on the strand only (or the owner's thread in
// manual mode); its tunables from any thread; the functions are pure.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "bcachefs_lite/cache/moving_gc_tunables.h"
#include "bcachefs_lite/index/extent_format.h"
#include "core/core.h"
#include "gc/bucket_count.h"

namespace bcl {

// A bucket moving GC could empty, as the last GC pass left it.
struct MovingCandidate {
    unsigned dev = 0;
    std::uint64_t bucket = 0;
    std::uint8_t gen = 0;
    std::uint32_t sectors_used = 0;
    bool operator==(const MovingCandidate&) const = default;
};

// Whether free buckets run low: fewer are free than the allocators keep
// empty for themselves (free_inc and the freelists, `reserved`) plus an
// eighth of all data buckets. The allocators refill their own reserve by
// evicting, so past it every bucket they need costs cached data.
bool free_buckets_low(const BucketCount& count, std::uint64_t reserved);

// The sparsest candidates (fewest live sectors first, then bucket order)
// whose live sectors fit together in reserve_sectors (bcache bounds a
// round by the movinggc reserve), or nothing when they would not free at
// least two buckets more than their copies fill (a copy may leave the tail
// of a bucket unused): a round that gains nothing must not run, or every
// GC pass would start another.
std::vector<MovingCandidate> choose_moving_buckets(std::vector<MovingCandidate> candidates,
                                                   std::uint32_t bucket_sectors, std::uint64_t reserve_sectors);

// The state of one round.
class MovingGcRound {
public:
    bool running() const { return running_; }
    // Starts a round over `chosen` (not empty).
    void start(std::vector<MovingCandidate> chosen);
    // The first copy of the extent that points into a chosen bucket with
    // its chosen gen, if one does: that copy is moved, the other stays.
    std::optional<unsigned> wanted(const ExtentValue& v) const;
    void finish() { running_ = false; }

    // Where the next step's scan starts.
    ExtentKey next{};
    // Bytes moved in this round (extents whose swap was committed).
    std::uint64_t moved_bytes = 0;
    // The round ran out of buckets to write to: it stops early.
    bool out_of_space = false;
    std::size_t buckets() const { return chosen_.size(); }

private:
    bool running_ = false;
    std::vector<MovingCandidate> chosen_;  // sorted by (dev, bucket)
};

// The cache set's moving GC: its rounds over the core's index and
// allocators.
class MovingGc {
public:
    // batch: index entries one step looks at, at most.
    MovingGc(CacheCore& core, std::size_t batch, const MovingGcTunables& tunables);

    MovingGcTunables tunables() const;
    void set_tunables(const MovingGcTunables& tunables);
    // After a GC pass (its marks are fresh): starts a round, whose steps
    // are posted to the strand, if free buckets are low.
    void after_pass();

private:
    struct MovedCopy;
    void kick();
    // One bounded step of the round; true while more remain.
    Result<bool> step();
    void finish();
    // Copies the extents out and swaps their index entries; each extent
    // with the copy of it to move.
    void move_extents(const std::vector<std::pair<Extent, unsigned>>& extents);
    // Reads copy `copy` of an extent (checked against its checksum) and
    // writes it to a fresh place off the devices of its other copies;
    // Errc::again when no bucket is free.
    Result<MovedCopy> copy_extent(const Extent& e, unsigned copy);

    CacheCore& core_;
    const std::size_t batch_;
    std::atomic<bool> enabled_;
    MovingGcRound round_;
};

}  // namespace bcl
