// SectorAllocator: hands out sectors for writes from a small set of open
// buckets (bcache's alloc_sectors and pick_data_bucket), so that data that
// belongs together lands in the same bucket and is later reclaimed together.
//
// For a write at {file_id, offset} from write point `wp`, the open bucket is,
// among those of the same class (pinned = flash-only data vs. reclaimable
// data; the two never share a bucket) or with no space left:
//   1. the one whose last allocation ended exactly at {file_id, offset}
//      (the write is sequential with it), else
//   2. the one most recently used by write point wp, else
//   3. the least recently used one.
// If the chosen open bucket has no space left it gets a fresh bucket (set)
// from AllocSet::alloc_set() — from the movinggc reserve when write_prio is
// set, from the none reserve otherwise. An open bucket left with less than
// one block is closed. The allocation may be shorter than asked when the
// bucket is nearly full; the caller asks again for the rest.
//
// Pins (as the seed hands them over): an open bucket holds one pin on each
// of its buckets. Each allocation returned holds one pin on each of its
// buckets, which the caller drops with put() after its index insert: while
// the bucket stays open the allocation takes a pin of its own; the
// allocation that closes the bucket receives the open bucket's pin.
//
// Thread safety: every function may be called from any thread;
// data_bucket_lock_ guards the open buckets. Buckets are allocated without
// it held; the lock order is data_bucket_lock_, then a device's bucket lock.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <vector>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/alloc/alloc_types.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// Where a write goes in a file, in sectors: bcache's search key.
struct WriteKey {
    std::uint64_t file_id = 0;
    std::uint64_t offset = 0;
    bool operator==(const WriteKey&) const = default;
};

struct SectorAlloc {
    AllocPtrs ptrs;             // one per replica; offset = first sector of the allocation
    std::uint32_t sectors = 0;  // <= the sectors asked for
};

struct OpenBucketInfo {
    AllocPtrs ptrs;  // offsets: the next free sector
    WriteKey key;    // where the last allocation from it ended
    unsigned write_point = 0;
    std::uint32_t sectors_free = 0;
    bool pinned = false;
};

class SectorAllocator {
public:
    // replicas: buckets per open bucket, one per device, 1 <= replicas <=
    // min(set.ndevices(), kMaxAllocSet). Default: 1.
    explicit SectorAllocator(AllocSet& set, unsigned replicas = 1);
    // Closes every open bucket (drops their pins).
    ~SectorAllocator();
    SectorAllocator(const SectorAllocator&) = delete;
    SectorAllocator& operator=(const SectorAllocator&) = delete;

    // Allocates up to `sectors` (> 0) for the write starting at `start`.
    // pinned: the data belongs to a pinned (flash-only) file. wait: sleep
    // for a free bucket instead of failing with Errc::again. avoid_devs
    // (bit d: device d): no bucket on those devices (moving GC moving one
    // copy of replicated data keeps it off the other copy's device).
    Result<SectorAlloc> alloc_sectors(const WriteKey& start, std::uint32_t sectors, unsigned write_point,
                                      bool write_prio, bool pinned, bool wait, std::uint32_t avoid_devs = 0);
    // Drops the allocation's pins, once its index entry is inserted.
    void put(const SectorAlloc& a) { set_.put(a.ptrs); }
    // Drops the pins of every open bucket and empties them (at shutdown).
    void close_all();

    // Open buckets, least recently used first.
    std::vector<OpenBucketInfo> open_buckets() const;

private:
    struct OpenBucket {
        AllocPtrs ptrs;
        WriteKey key;
        unsigned write_point = 0;
        std::uint32_t sectors_free = 0;
        bool pinned = false;
    };
    using List = std::list<OpenBucket>;

    List::iterator pick_locked(const WriteKey& key, unsigned write_point, bool pinned, std::uint32_t avoid_devs,
                               AllocPtrs& fresh);
    void close_locked(OpenBucket& ob);

    AllocSet& set_;
    const unsigned replicas_;
    mutable std::mutex data_bucket_lock_;
    List data_buckets_;  // guarded by data_bucket_lock_; kMaxOpenBuckets entries, LRU first
};

}  // namespace bcl
