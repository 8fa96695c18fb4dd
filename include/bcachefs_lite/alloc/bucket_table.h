// BucketTable: the per-bucket state of one cache device and the rules that
// govern it — gens and the wraparound guard, prios and their aging, GC marks.
// It moves no bucket between lists; CacheAllocator and the replacement
// policies do that, calling these rules.
//
// Thread safety: none. The owning CacheAllocator's bucket lock guards every
// member, except that prio and pin are accessed through std::atomic_ref so
// that bucket_hit() and put() may run without the lock (see Bucket).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "bcachefs_lite/alloc/alloc_types.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

class BucketTable {
public:
    // Checks what the table relies on: first_bucket < nbuckets <= 2^32,
    // bucket and block sizes powers of two, block <= bucket <=
    // kMaxBucketSectors.
    static Status validate(const Geometry& g);

    // g must have passed validate(). Every bucket starts with gen 0, prio
    // kInitialPrio, mark unused; GC marks start out invalid.
    explicit BucketTable(const Geometry& g);

    const Geometry& geometry() const { return geometry_; }
    std::uint64_t nbuckets() const { return geometry_.nbuckets; }
    std::uint64_t first_bucket() const { return geometry_.first_bucket; }
    std::uint32_t bucket_sectors() const { return geometry_.bucket_sectors; }
    // True for a bucket that may hold data (first_bucket <= b < nbuckets).
    bool is_data_bucket(std::uint64_t b) const { return b >= geometry_.first_bucket && b < geometry_.nbuckets; }

    Bucket& operator[](std::uint64_t b) { return buckets_[b]; }
    const Bucket& operator[](std::uint64_t b) const { return buckets_[b]; }
    BucketInfo info(std::uint64_t b) const;

    // prio and pin, safe against the lock-free hit and put.
    std::uint16_t prio(std::uint64_t b) const { return load_relaxed(buckets_[b].prio); }
    void set_prio(std::uint64_t b, std::uint16_t p) {
        std::atomic_ref<std::uint16_t>(buckets_[b].prio).store(p, std::memory_order_relaxed);
    }
    std::uint16_t pin(std::uint64_t b) const {
        return std::atomic_ref<std::uint16_t>(const_cast<std::uint16_t&>(buckets_[b].pin))
            .load(std::memory_order_acquire);
    }
    void pin_get(std::uint64_t b) {
        std::atomic_ref<std::uint16_t>(buckets_[b].pin).fetch_add(1, std::memory_order_acq_rel);
    }
    // Returns the count before the decrement (0 means an unbalanced put).
    std::uint16_t pin_put(std::uint64_t b) {
        return std::atomic_ref<std::uint16_t>(buckets_[b].pin).fetch_sub(1, std::memory_order_acq_rel);
    }

    // --- Gens (bch_inc_gen and the wraparound guard) ---

    // How far the gen ran ahead since the last GC (bucket_gc_gen).
    std::uint8_t gc_gen(std::uint64_t b) const {
        return static_cast<std::uint8_t>(buckets_[b].gen - buckets_[b].last_gc);
    }
    bool can_inc_bucket_gen(std::uint64_t b) const { return gc_gen(b) < kBucketGcGenMax; }
    // Bumps the gen and raises need_gc to the bucket's new distance.
    std::uint8_t inc_gen(std::uint64_t b);
    // GC should run once need_gc() approaches kBucketGcGenMax.
    std::uint8_t need_gc() const { return need_gc_; }

    // Marks unused or reclaimable, not pinned, the gen guard holds, and the
    // GC marks are valid.
    bool can_invalidate(std::uint64_t b) const {
        const Bucket& x = buckets_[b];
        return gc_mark_valid_ && x.mark <= GcMark::reclaimable && pin(b) == 0 && can_inc_bucket_gen(b);
    }
    // __bch_invalidate_one_bucket: gen++, prio = kInitialPrio, pin++. The
    // caller puts the bucket on free_inc. Requires can_invalidate(b). The
    // old data stays readable: read_gen keeps the old gen until
    // end_old_reads().
    void invalidate_one(std::uint64_t b);

    // --- Reads of data waiting for reuse ---

    // Whether reads through a pointer with `gen` are served: gen is the
    // bucket's read gen (its gen, or the old one while it waits for reuse).
    bool serves(std::uint64_t b, std::uint8_t gen) const { return buckets_[b].read_gen == gen; }
    // Reads of the old gen stop matching: the bucket is about to be written
    // or discarded. Readers re-check after reading, so one that raced this
    // falls back.
    void end_old_reads(std::uint64_t b) { buckets_[b].read_gen = buckets_[b].gen; }

    // --- Prios ---

    std::uint16_t min_prio() const { return min_prio_; }
    // The LRU cost of a bucket (the seed's bucket_prio): prios are shifted
    // so the lowest is worth 1/8 of kInitialPrio, then weighted by live
    // sectors. Where the seed's unsigned arithmetic would wrap (a prio below
    // min_prio, which a bucket pinned during aging can have) the term is 0.
    // One departure: every prio is worth at least 1. When all prios are equal
    // (a new cache, or right after mount) the seed's term is 0 for every
    // bucket, full ones then tie with empty ones and freshly cached data is
    // thrown away while empty buckets remain; with the +1 the cost still
    // grows with live sectors.
    std::uint64_t bucket_prio(std::uint64_t b) const { return bucket_prio(b, prio_offset()); }
    // The same, with prio_offset() computed once for a whole pass. The
    // result is below 2^32 (at most (65535 + 4096 + 1) * 16384).
    std::int64_t prio_offset() const {
        const std::int64_t min = min_prio_;
        return (std::int64_t{kInitialPrio} - min) / 8 - min;
    }
    std::uint64_t bucket_prio(std::uint64_t b, std::int64_t offset) const {
        std::int64_t scaled = std::int64_t{prio(b)} + offset;
        if (scaled < 0) scaled = 0;
        return static_cast<std::uint64_t>(scaled + 1) * buckets_[b].sectors_used;
    }
    // One aging round of rescale_priorities: every unpinned prio other than
    // 0 and kBtreePrio drops by one; min_prio becomes the lowest prio among
    // unpinned buckets below kBtreePrio (kBtreePrio when there is none).
    void age_prios();
    void recompute_min_prio();

    // --- Allocation and freeing ---

    // What bucket_alloc does to a bucket it hands out (pin stays as is),
    // end_old_reads() included.
    void mark_allocated(std::uint64_t b);
    // __bch_bucket_free: nothing live in it any more.
    void mark_free(std::uint64_t b);

    // --- Start-up and GC ---

    // Installs persisted gens and prios; read_gen = last_gc = gen, marks unused, 0
    // sectors, GC marks invalid. Errc::invalid on a bucket out of range.
    Status load(std::span<const BucketGenPrio> buckets);
    bool gc_mark_valid() const { return gc_mark_valid_; }
    // btree_gc_start: last_gc = gen everywhere; unpinned buckets lose their
    // marks and sectors; GC marks invalid until gc_finish(). GC leaves
    // pointers with the read gen of a bucket waiting for reuse in the index:
    // that gen is below last_gc, and the guard keeps it within
    // kBucketGcGenMax + 1 of gen, far from the 256 at which it would match
    // again.
    void gc_start();
    // Counts `sectors` more live sectors (saturating at the bucket size) and
    // raises the mark to at least `mark`.
    void gc_mark(std::uint64_t b, GcMark mark, std::uint32_t sectors);
    void set_last_gc(std::uint64_t b, std::uint8_t gen) { buckets_[b].last_gc = gen; }
    // btree_gc_finish: marks valid; need_gc recomputed from every bucket.
    void gc_finish();

    std::size_t memory_bytes() const { return buckets_.capacity() * sizeof(Bucket); }

private:
    static std::uint16_t load_relaxed(const std::uint16_t& v) {
        return std::atomic_ref<std::uint16_t>(const_cast<std::uint16_t&>(v)).load(std::memory_order_relaxed);
    }

    Geometry geometry_;
    std::vector<Bucket> buckets_;  // nbuckets entries; never resized
    std::uint16_t min_prio_ = kInitialPrio;
    std::uint8_t need_gc_ = 0;
    bool gc_mark_valid_ = false;
};

}  // namespace bcl
