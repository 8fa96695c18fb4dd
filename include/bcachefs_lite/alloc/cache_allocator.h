// CacheAllocator: the bucket allocator of one cache device (bcache's
// struct cache, allocation half). It owns the bucket table, free_inc, the
// reserve freelists free[] and the background allocator task.
//
// Foreground (bucket_alloc.cc): bucket_alloc() pops a ready bucket —
// free[none] first, then free[reserve] — and, when asked to wait, sleeps
// until the task refills the freelists or the allocator shuts down.
//
// Background (allocator_task.cc): one bounded step at a time, run as a
// handler on a strand of the executor given at construction, queued by
// wake() (never more than one step queued), never polling. A step does one
// of:
//   drain       free_inc (gens durable) -> discard -> free[movinggc], then
//               free[none], while they have room (a full free[movinggc]
//               takes the new bucket and passes its oldest on to free[none],
//               so buckets are handed out in invalidation order); wakes
//               waiting allocations.
//               With discard, the bucket's old data stops being read
//               (end_old_reads) before the discard is issued.
//   invalidate  when free_inc is empty (or partly filled and more can be
//               found): the replacement policy fills free_inc; when it runs
//               out, invalidate_needs_gc is set and wake_gc called, and no
//               more invalidation happens until gc_finish()
//   persist     free_inc full, or as full as it can get before GC: the gens
//               and prios of the whole of free_inc go to GenStore::persist()
//               in one batch, with no lock held. On success the batch is
//               durable and the next step drains it. On failure the batch
//               stays on free_inc, not durable, and is counted in
//               stats().persist_failures; the step does not retry at once
//               (an index that just failed would fail again): the next
//               wake() — any bucket_alloc(), gc_finish(), or the engine's own
//               wake() — retries the same batch.
// The task starts working at the first gc_finish() (GC marks valid).
//
// Freelist sizes, from the device's bucket count as bcache sizes them:
//   free      = max(roundup_pow_of_two(nbuckets) >> 10, kMinFree,
//                   min(kFreeBurstBytes / bucket bytes, nbuckets >> 5))
//   free[movinggc], free[none]: `free` each; free_inc: free << 2;
//   lru heap: free << 3.
// The third term is ours: bcache sizes a cache of a few thousand buckets
// for its slowest refill, and a burst of misses would then find free[none]
// empty while a refill's persist is in flight (see kFreeBurstBytes).
// free[movinggc] holds nothing when AllocatorOptions::movinggc_reserve is
// off.
//
// Buckets on free_inc and free[] keep serving reads of the data they held
// (their read gen, see alloc_types.h) until bucket_alloc hands them out or
// they are discarded: the freelists cost capacity for new data only, not
// hits on the old.
//
// Thread safety: every public function may be called from any thread.
// bucket_lock_ guards the bucket table (but see Bucket for prio and pin),
// free_inc, free[], the flags and the stats. Steps are serialised by the
// strand and by TaskState::step_mutex. Callbacks (discard, wake_gc) and
// GenStore::persist are called with no lock held. Destroy only after every
// thread that called in has returned (shutdown() makes waiters return), and
// before the executor's execution context (the strand lives in it); the
// GenStore must outlive the allocator too.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>

#include "bcachefs_lite/alloc/alloc_types.h"
#include "bcachefs_lite/alloc/bucket_table.h"
#include "bcachefs_lite/alloc/gen_store.h"
#include "bcachefs_lite/alloc/replacement.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/fifo.h"

namespace bcl {

// The smallest `free` (see above), so that caches of a few dozen buckets,
// as tests use, still get working freelists.
inline constexpr std::size_t kMinFree = 4;
// What free[none] holds at least, in bytes, where the cache has 32 times
// as many buckets: the inserts of a burst of reads (a few FUSE requests of
// up to 1 MiB each, at queue depth) that arrive while the allocator
// persists its next batch of gens, a cache flush and a synced index write.
// A miss that finds no bucket ready is not inserted (insert_no_space).
// With 4 buckets of 512 KiB, a cold read at queue depth 4 from a backing
// answering in 2 ms skipped 7% of its inserts; with 8 MiB, none.
inline constexpr std::uint64_t kFreeBurstBytes = std::uint64_t{16} << 20;

struct FreelistSizes {
    std::size_t free = 0;      // each of free[movinggc], free[none]
    std::size_t free_inc = 0;  // free << 2
    std::size_t heap = 0;      // free << 3
};
FreelistSizes freelist_sizes(const Geometry& geometry);

struct AllocatorOptions {
    // Replacement policy; can be changed later with set_replacement().
    // Default: lru.
    Replacement replacement = Replacement::lru;
    // Seed of the random policy's generator. Default: kDefaultRandomSeed.
    std::uint64_t random_seed = kDefaultRandomSeed;
    // Discards a bucket before it reaches a freelist. A failure is counted
    // (stats().discard_failures) and the bucket proceeds. Default: empty,
    // discard disabled.
    std::function<Status(std::uint64_t bucket)> discard;
    // Asks GC to run: called when nothing can be invalidated, from the
    // allocator's strand with no lock held. It may call gc_start() and
    // gc_finish() but not shutdown(); it should not block. Default: empty.
    std::function<void()> wake_gc;
    // Keep free[movinggc] filled, as bcache does for its moving GC, which
    // allocates from it (write_prio) when free[none] is empty. The reserve
    // is filled first, so an owner without moving GC turns it off: it
    // would only keep `free` buckets empty for ever. Default: true.
    bool movinggc_reserve = true;
};

struct AllocatorStats {
    std::uint64_t allocs = 0;            // buckets handed out
    std::uint64_t alloc_waits = 0;       // times an allocation went to sleep
    std::uint64_t alloc_failures = 0;    // bucket_alloc(wait=false) that found nothing
    std::uint64_t invalidated = 0;       // buckets put on free_inc
    std::uint64_t persists = 0;          // successful gen batches
    std::uint64_t persist_failures = 0;  // failed gen batches
    std::uint64_t discards = 0;          // discards issued
    std::uint64_t discard_failures = 0;  // discards that failed
    std::uint64_t gc_wakeups = 0;        // wake_gc calls
    std::uint64_t steps = 0;             // allocator steps run
};

class CacheAllocator {
public:
    // Errc::invalid for a geometry BucketTable::validate() refuses.
    static Result<std::unique_ptr<CacheAllocator>> create(unsigned dev, const Geometry& geometry, GenStore& gen_store,
                                                          boost::asio::any_io_executor executor,
                                                          AllocatorOptions options = {});
    ~CacheAllocator();
    CacheAllocator(const CacheAllocator&) = delete;
    CacheAllocator& operator=(const CacheAllocator&) = delete;

    unsigned dev() const { return dev_; }
    const Geometry& geometry() const { return geometry_; }
    const FreelistSizes& sizes() const { return sizes_; }
    // Buckets the allocator keeps empty when it can: the capacity of
    // free_inc and of the freelists. No lock (capacities never change).
    std::size_t reserve_capacity() const {
        std::size_t n = free_inc_.capacity();
        for (const auto& f : free_) n += f.capacity();
        return n;
    }

    // --- Foreground (bucket_alloc.cc) ---

    // A bucket ready to be written: pin 1, mark reclaimable, prio
    // kInitialPrio, sectors_used = bucket size. Errc::again when none is
    // ready and !wait; Errc::shutdown once shut down (also wakes waiters).
    Result<std::uint64_t> bucket_alloc(Reserve reserve, bool wait);
    // __bch_bucket_free: the bucket holds nothing live (mark unused, 0
    // sectors). Does not unpin.
    void bucket_free(std::uint64_t bucket);
    // Takes a pin on a bucket if its gen is still `gen` (Errc::stale if not).
    Status pin(std::uint64_t bucket, std::uint8_t gen);
    // Takes another pin on a bucket the caller already holds pinned. No lock.
    void dup_pin(std::uint64_t bucket);
    // Drops a pin (bkey_put). No lock.
    void put(std::uint64_t bucket);
    // A read hit: the bucket's prio goes back up to kInitialPrio. No lock.
    void bucket_hit(std::uint64_t bucket);
    // bcache's ptr_stale, for reads: whether data read through a pointer
    // into `bucket` with gen `gen` must not be used — the bucket is out of
    // range, or `gen` is not its read gen (so also false for the old gen of
    // a bucket waiting for reuse). A reader checks before and again after
    // reading the device: a hand-out or discard in between shows there.
    bool ptr_stale(std::uint64_t bucket, std::uint8_t gen) const;
    // One aging round (the body of rescale_priorities; AllocSet counts).
    void age_prios();
    void add_sectors_written(std::uint64_t sectors) { sectors_written_.fetch_add(sectors, std::memory_order_relaxed); }
    std::uint64_t sectors_written() const { return sectors_written_.load(std::memory_order_relaxed); }

    // --- Start-up and GC (bucket_alloc.cc) ---

    // Installs persisted gens and prios (buckets not listed keep gen 0 and
    // kInitialPrio). Only before the first gc_finish(): Errc::busy after.
    Status load(std::span<const BucketGenPrio> buckets);
    // GC start: last_gc = gen for every bucket; unpinned buckets lose their
    // marks; GC marks invalid (no invalidation) until gc_finish().
    void gc_start();
    // Counts a live pointer into `bucket` with gen `gen`: `sectors` more live
    // sectors and at least mark `mark`. At mount the cache engine calls this
    // for every extent (dirty, pinned or reclaimable), then gc_finish().
    // Errc::stale when the pointer's gen is not the bucket's (not counted);
    // that includes the old gen of a bucket waiting for reuse, which
    // ptr_stale() may still serve. Errc::invalid for a bucket out of range.
    Status gc_mark(std::uint64_t bucket, std::uint8_t gen, GcMark mark, std::uint32_t sectors);
    // One pointer for gc_mark_many(): what gc_mark() takes, and what it and
    // ptr_stale() answered.
    struct GcPtrMark {
        std::uint64_t bucket = 0;
        std::uint8_t gen = 0;
        GcMark mark = GcMark::unused;
        std::uint32_t sectors = 0;
        bool counted = false;   // out: gc_mark() succeeded
        bool readable = false;  // out: !ptr_stale()
    };
    // gc_mark() and ptr_stale() for each of `ptrs`, under one lock: a pass
    // with several threads marking at once would otherwise pass the lock
    // to and fro for every pointer. The same answers as the single calls.
    void gc_mark_many(std::span<GcPtrMark> ptrs);
    // For a GC that knows the oldest gen still referenced in the index.
    Status set_last_gc(std::uint64_t bucket, std::uint8_t gen);
    // GC done: marks valid, need_gc recomputed, invalidate_needs_gc cleared,
    // the task woken.
    void gc_finish();

    void set_replacement(Replacement policy);
    Replacement replacement() const;
    void set_random_seed(std::uint64_t seed);

    // --- Background (allocator_task.cc) ---

    // Queues one allocator step unless one is queued already or the
    // allocator is shut down. Cheap; any thread; no lock needed.
    void wake();
    // Stops the task and fails current and future bucket_alloc() calls with
    // Errc::shutdown. Waits for a step that is running (a persist or discard
    // in progress) to return; a step still queued becomes a no-op.
    // Idempotent; the destructor calls it.
    void shutdown();
    // Step handlers posted and not yet destroyed (run or dropped).
    std::int64_t handlers_outstanding() const;

    // --- Introspection (copies, taken under the lock) ---

    BucketInfo bucket(std::uint64_t bucket) const;
    std::vector<std::uint64_t> free_inc() const;
    std::vector<std::uint64_t> freelist(Reserve reserve) const;
    // Buckets on the freelists, ready to be handed out.
    std::size_t ready_buckets() const;
    bool free_inc_durable() const;
    bool invalidate_needs_gc() const;
    bool gc_mark_valid() const;
    std::uint8_t need_gc() const;
    std::uint16_t min_prio() const;
    std::size_t waiters() const;
    AllocatorStats stats() const;
    // Heap memory of the table, freelists and lru heap.
    std::size_t memory_bytes() const;

private:
    struct TaskState;
    class StepHandler;

    CacheAllocator(unsigned dev, const Geometry& geometry, GenStore& gen_store, boost::asio::any_io_executor executor,
                   AllocatorOptions options);

    std::optional<std::uint64_t> pop_free_locked(Reserve reserve);
    bool freelists_full_locked() const;
    bool push_free_locked(std::uint64_t bucket);
    Status check_bucket(std::uint64_t bucket) const;

    // The step and its phases; each returns whether another step should
    // follow. The phases are entered with bucket_lock_ held (lk) and drop it
    // around I/O and callbacks.
    void run_step();
    bool step();
    bool drain_locked(std::unique_lock<std::mutex>& lk);
    bool invalidate_locked(std::unique_lock<std::mutex>& lk);
    bool persist_locked(std::unique_lock<std::mutex>& lk);

    const unsigned dev_;
    const Geometry geometry_;
    const FreelistSizes sizes_;
    GenStore& gen_store_;
    const std::function<Status(std::uint64_t)> discard_;
    const std::function<void()> wake_gc_;
    boost::asio::strand<boost::asio::any_io_executor> strand_;

    mutable std::mutex bucket_lock_;
    std::condition_variable bucket_wait_;  // waits on bucket_lock_: free[] refilled or shutdown
    // Guarded by bucket_lock_:
    BucketTable table_;
    Fifo<std::uint64_t> free_inc_;
    std::array<Fifo<std::uint64_t>, kReserveCount> free_;
    bool free_inc_durable_ = false;     // the gens of everything on free_inc are durable
    bool invalidate_needs_gc_ = false;  // the policy ran out; wait for gc_finish()
    bool gc_ever_valid_ = false;        // gc_finish() happened at least once
    bool stopping_ = false;
    std::size_t waiters_ = 0;
    Invalidator invalidator_;
    AllocatorStats stats_;

    std::atomic<bool> step_queued_{false};
    std::atomic<std::uint64_t> sectors_written_{0};
    std::shared_ptr<TaskState> task_;  // shared with queued handlers
};

}  // namespace bcl
