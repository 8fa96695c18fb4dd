// Types and constants of the bucket allocator (bcache's alloc.c, bcache.h).
//
// A cache device is cut into buckets of bucket_sectors 512-byte sectors.
// Each bucket carries an 8-bit gen: a pointer into the bucket is valid only
// while its gen equals the bucket's. A clean bucket is reused by bumping its
// gen, and the bumped gen must be durable (GenStore) before the bucket is
// written again.
//
// Each bucket also has a read gen: the gen that reads are served for. It
// equals gen except while the bucket waits for reuse (on free_inc or a
// freelist): invalidation bumps gen (the new gen, the one persisted, the one
// GC and pins compare with) and leaves read_gen at the old one, so the data
// still in the bucket keeps being read until something may overwrite it.
// read_gen catches up with gen when bucket_alloc hands the bucket out (before
// anything is written to it) or just before the bucket is discarded. A read
// that races either re-checks read_gen after it (ptr_stale) and falls back.
// After a crash the durable gen is the new one for every bucket that reached
// a freelist, so every pointer into it reads stale (invariant 1).
//
// Life of a bucket (which code moves it, and what changes):
//
//   from            to               by                      changes
//   --------------  ---------------  ----------------------  ---------------------------
//   in use / free   free_inc         invalidate (policy)     gen++, prio=INITIAL, pin++;
//                                                            read_gen stays the old gen
//   free_inc        free_inc (dur.)  persist (GenStore)      gens of the batch durable
//   free_inc (dur.) free[reserve]    allocator push          with discard: read_gen=gen,
//                                                            then the discard
//   free[reserve]   allocated        bucket_alloc            read_gen=gen,
//                                                            mark=reclaimable,
//                                                            sectors=bucket size,
//                                                            prio=INITIAL (pin stays 1)
//   allocated       in use           put (after the index    pin-- (the data is now
//                                    insert)                 reachable through the index)
//   in use          unused           bucket_free / GC        mark=unused, sectors=0
//   any             marked           GC / mount marking      mark, sectors_used, last_gc
//   (load at mount)                  load                    gen=read_gen=persisted gen
//
// A bucket can be invalidated only while its mark is unused or reclaimable,
// it is not pinned, gen - last_gc < kBucketGcGenMax and the GC marks are
// valid (GC ran at least once since start-up). GC never counts a pointer
// with the old gen (it is stale to gc_mark) but leaves it in the index while
// it is still read; such a pointer is one gen behind last_gc, and the guard
// keeps every gen GC leaves in the index within kBucketGcGenMax + 1 of the
// bucket's, so none can match again by wrapping around.
//
// Thread safety: plain values.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include "bcachefs_lite/util/replacement.h"

namespace bcl {

// A hit raises a bucket to this prio; invalidation sets it too.
inline constexpr std::uint16_t kInitialPrio = 32768;
// bcache's BTREE_PRIO. No bucket holds metadata here (it lives in RocksDB),
// but the meaning is kept: prio aging skips 0 (already the oldest) and this
// value (never aged).
inline constexpr std::uint16_t kBtreePrio = 65535;
// A bucket's gen may run at most this far ahead of its gen at the last GC.
inline constexpr std::uint8_t kBucketGcGenMax = 96;
// Open buckets the sector allocator writes into at once.
inline constexpr std::size_t kMaxOpenBuckets = 128;
// alloc_set takes at most this many buckets (one per device) at once.
inline constexpr std::size_t kMaxAllocSet = 8;
// Largest bucket: 8 MiB.
inline constexpr std::uint32_t kMaxBucketSectors = 16384;

// GC's verdict on a bucket (bcache's GC_MARK). Ordered: a bucket holding
// several kinds of data gets the highest.
enum class GcMark : std::uint8_t {
    unused = 0,       // nothing live points in
    reclaimable = 1,  // clean cached data: may be invalidated
    dirty = 2,        // data not yet on the backing store: never invalidated
    pinned = 3,       // pinned (flash-only) data: never invalidated
};

// Which freelist an allocation may dip into (bcache's RESERVE_*). free[none]
// serves everyone; free[movinggc] is kept for moving GC so that it can
// always make progress. The allocator fills them in this order.
enum class Reserve : std::uint8_t { movinggc = 0, none = 1 };
inline constexpr std::size_t kReserveCount = 2;

// In-memory state of one bucket: 10 bytes. gen, read_gen, mark, sectors_used
// and last_gc are guarded by the owning allocator's bucket lock; prio and pin are
// also read and written with std::atomic_ref so that a hit (prio) and a put
// (pin) need no lock.
struct Bucket {
    std::uint16_t prio = kInitialPrio;
    // References that keep the bucket from being invalidated: one from
    // invalidation until the allocation's index insert, plus one per
    // allocation in flight. At most bucket_sectors / block_sectors + 2.
    std::uint16_t pin = 0;
    // GC_SECTORS_USED: live sectors, <= kMaxBucketSectors.
    std::uint16_t sectors_used = 0;
    std::uint8_t gen = 0;
    // The gen reads are served for: gen, or the gen before it while the
    // bucket waits for reuse (see the top of this file).
    std::uint8_t read_gen = 0;
    std::uint8_t last_gc = 0;  // gen at the last GC
    GcMark mark = GcMark::unused;
};
static_assert(sizeof(Bucket) <= 16, "per-bucket memory must stay small");

// What is persisted per bucket (the seed's prio_write): its gen and prio.
struct BucketGenPrio {
    std::uint64_t bucket = 0;
    std::uint8_t gen = 0;
    std::uint16_t prio = kInitialPrio;
    bool operator==(const BucketGenPrio&) const = default;
};

// A copy of one bucket's state, for callers outside the lock.
struct BucketInfo {
    std::uint8_t gen = 0;
    std::uint8_t read_gen = 0;
    std::uint8_t last_gc = 0;
    std::uint16_t prio = 0;
    std::uint16_t pin = 0;
    std::uint16_t sectors_used = 0;
    GcMark mark = GcMark::unused;
};

// Layout of one cache device, from its superblock. Buckets first_bucket ..
// nbuckets-1 hold data (bucket numbers count from the start of the device).
struct Geometry {
    std::uint64_t nbuckets = 0;
    std::uint64_t first_bucket = 0;
    std::uint32_t bucket_sectors = 0;  // power of two, <= kMaxBucketSectors
    std::uint32_t block_sectors = 1;   // power of two, <= bucket_sectors
};

// One allocated bucket (or part of one) on one device: bcache's PTR.
struct AllocPtr {
    unsigned dev = 0;
    std::uint64_t bucket = 0;
    std::uint8_t gen = 0;
    std::uint64_t offset = 0;  // in sectors from the start of the device
    bool operator==(const AllocPtr&) const = default;
};

// Up to kMaxAllocSet pointers, one per device: bcache's key pointers.
struct AllocPtrs {
    std::array<AllocPtr, kMaxAllocSet> ptr{};
    unsigned nptrs = 0;
    const AllocPtr* begin() const { return ptr.data(); }
    const AllocPtr* end() const { return ptr.data() + nptrs; }
};

}  // namespace bcl
