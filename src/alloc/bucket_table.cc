#include "bcachefs_lite/alloc/bucket_table.h"

#include <algorithm>
#include <fmt/format.h>

#include "bcachefs_lite/util/aligned_buffer.h"

namespace bcl {

Status BucketTable::validate(const Geometry& g) {
    if (g.nbuckets > (std::uint64_t{1} << 32))
        return make_error(Errc::invalid,
                          fmt::format("{} buckets are more than the 2^32 supported; use larger buckets", g.nbuckets));
    if (g.nbuckets == 0 || g.first_bucket >= g.nbuckets)
        return make_error(Errc::invalid,
                          fmt::format("first bucket {} must be below the bucket count {}", g.first_bucket, g.nbuckets));
    if (!is_power_of_two(g.bucket_sectors) || g.bucket_sectors > kMaxBucketSectors)
        return make_error(Errc::invalid, fmt::format("bucket size of {} sectors must be a power of two up to {}",
                                                     g.bucket_sectors, kMaxBucketSectors));
    if (!is_power_of_two(g.block_sectors) || g.block_sectors > g.bucket_sectors)
        return make_error(
            Errc::invalid,
            fmt::format("block size of {} sectors must be a power of two up to the bucket size", g.block_sectors));
    return ok();
}

BucketTable::BucketTable(const Geometry& g) : geometry_(g), buckets_(g.nbuckets) {}

BucketInfo BucketTable::info(std::uint64_t b) const {
    const Bucket& x = buckets_[b];
    return BucketInfo{x.gen, x.read_gen, x.last_gc, prio(b), pin(b), x.sectors_used, x.mark};
}

std::uint8_t BucketTable::inc_gen(std::uint64_t b) {
    const std::uint8_t gen = ++buckets_[b].gen;
    need_gc_ = std::max(need_gc_, gc_gen(b));
    return gen;
}

void BucketTable::invalidate_one(std::uint64_t b) {
    // read_gen stays: nothing overwrites the data before end_old_reads().
    inc_gen(b);
    set_prio(b, kInitialPrio);
    pin_get(b);
}

void BucketTable::age_prios() {
    std::uint16_t min = kBtreePrio;
    for (std::uint64_t b = geometry_.first_bucket; b < geometry_.nbuckets; ++b) {
        std::uint16_t p = prio(b);
        if (p == kBtreePrio || pin(b) != 0) continue;
        if (p != 0) set_prio(b, --p);
        min = std::min(min, p);
    }
    min_prio_ = min;
}

void BucketTable::recompute_min_prio() {
    std::uint16_t min = kBtreePrio;
    for (std::uint64_t b = geometry_.first_bucket; b < geometry_.nbuckets; ++b) {
        const std::uint16_t p = prio(b);
        if (p != kBtreePrio && pin(b) == 0) min = std::min(min, p);
    }
    min_prio_ = min;
}

void BucketTable::mark_allocated(std::uint64_t b) {
    end_old_reads(b);
    buckets_[b].sectors_used = static_cast<std::uint16_t>(geometry_.bucket_sectors);
    buckets_[b].mark = GcMark::reclaimable;
    set_prio(b, kInitialPrio);
}

void BucketTable::mark_free(std::uint64_t b) {
    buckets_[b].mark = GcMark::unused;
    buckets_[b].sectors_used = 0;
}

Status BucketTable::load(std::span<const BucketGenPrio> loaded) {
    for (const BucketGenPrio& e : loaded)
        if (e.bucket >= geometry_.nbuckets)
            return make_error(Errc::invalid, fmt::format("persisted bucket {} is beyond the device's {} buckets",
                                                         e.bucket, geometry_.nbuckets));
    for (const BucketGenPrio& e : loaded) {
        Bucket& x = buckets_[e.bucket];
        x.gen = e.gen;
        x.read_gen = e.gen;
        x.last_gc = e.gen;
        x.mark = GcMark::unused;
        x.sectors_used = 0;
        set_prio(e.bucket, e.prio);
    }
    gc_mark_valid_ = false;
    recompute_min_prio();
    return ok();
}

void BucketTable::gc_start() {
    gc_mark_valid_ = false;
    for (std::uint64_t b = 0; b < geometry_.nbuckets; ++b) {
        Bucket& x = buckets_[b];
        x.last_gc = x.gen;
        if (pin(b) == 0) {
            x.mark = GcMark::unused;
            x.sectors_used = 0;
        }
    }
}

void BucketTable::gc_mark(std::uint64_t b, GcMark mark, std::uint32_t sectors) {
    Bucket& x = buckets_[b];
    x.mark = std::max(x.mark, mark);
    const std::uint32_t used = std::min<std::uint32_t>(x.sectors_used + sectors, geometry_.bucket_sectors);
    x.sectors_used = static_cast<std::uint16_t>(used);
}

void BucketTable::gc_finish() {
    gc_mark_valid_ = true;
    std::uint8_t need = 0;
    for (std::uint64_t b = 0; b < geometry_.nbuckets; ++b) need = std::max(need, gc_gen(b));
    need_gc_ = need;
}

}  // namespace bcl
