// Invalidator: the three replacement policies of the seed (lru, fifo,
// random). Each picks buckets that can_invalidate() allows, invalidates them
// (gen++, prio = kInitialPrio, pin++) and pushes them on free_inc until it is
// full — or reports that it ran out, so that the caller sets
// invalidate_needs_gc and wakes GC instead of scanning again.
//
//   lru:    one pass over all buckets keeps the heap_capacity cheapest by
//           BucketTable::bucket_prio() (prio scaled from min_prio, times live
//           sectors) in a max-heap, then pops them cheapest first. Ties
//           go to the lower bucket number.
//   fifo:   a cursor walks the buckets in order, wrapping to first_bucket;
//           gives up after nbuckets checks in one call.
//   random: uniformly drawn data buckets; gives up after nbuckets / 2 checks
//           in one call. The generator is seeded, so runs are reproducible.
//
// Thread safety: none; used under the owning CacheAllocator's bucket lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bcachefs_lite/alloc/alloc_types.h"
#include "bcachefs_lite/alloc/bucket_table.h"
#include "bcachefs_lite/util/fifo.h"
#include "bcachefs_lite/util/heap.h"

namespace bcl {

// Default seed of the random policy's generator.
inline constexpr std::uint64_t kDefaultRandomSeed = 0x9e3779b97f4a7c15ULL;

// The random policy's generator (splitmix64): small, fast, seedable.
class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

private:
    std::uint64_t state_;
};

class Invalidator {
public:
    enum class Outcome {
        filled,     // free_inc is full
        exhausted,  // the policy found no more candidates: GC must run first
    };

    // heap_capacity: how many candidates one lru pass keeps (free << 3).
    Invalidator(std::size_t heap_capacity, Replacement policy, std::uint64_t seed = kDefaultRandomSeed);

    Replacement replacement() const { return policy_; }
    void set_replacement(Replacement policy) { policy_ = policy; }
    void set_random_seed(std::uint64_t seed) { rng_ = SplitMix64(seed); }
    std::size_t heap_capacity() const { return heap_.capacity(); }
    std::size_t memory_bytes() const { return heap_.capacity() * sizeof(HeapEntry); }

    // Invalidates buckets of `table` onto `free_inc` per the current policy.
    Outcome invalidate(BucketTable& table, Fifo<std::uint64_t>& free_inc);

private:
    // cost << 32 | bucket: one compare orders by cost (ties by bucket);
    // costs and bucket numbers both fit in 32 bits.
    using HeapEntry = std::uint64_t;

    Outcome invalidate_lru(BucketTable& table, Fifo<std::uint64_t>& free_inc);
    Outcome invalidate_fifo(BucketTable& table, Fifo<std::uint64_t>& free_inc);
    Outcome invalidate_random(BucketTable& table, Fifo<std::uint64_t>& free_inc);

    Replacement policy_;
    BoundedHeap<HeapEntry> heap_;
    std::uint64_t fifo_last_bucket_ = 0;  // next bucket the fifo policy checks
    SplitMix64 rng_;
};

}  // namespace bcl
