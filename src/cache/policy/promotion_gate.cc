// CacheSet and its promotion policy: the question read_backing() asks
// before a miss insert, the tunables, and how full the cache is.
#include <algorithm>

#include "bcachefs_lite/cache/cache_set.h"
#include "core/core.h"

namespace bcl {

bool CacheSet::promote_miss(std::uint64_t file_id, std::uint64_t offset, std::uint64_t length) {
    const bool admitted = promotion_->admit(MissRange{file_id, offset, length}, cache_fill());
    (admitted ? core_->counters.promotions : core_->counters.promotions_skipped)
        .fetch_add(1, std::memory_order_relaxed);
    return admitted;
}

// From the figures GC stores at the end of every pass: two atomic loads,
// where a fresh count would walk every bucket under the allocator's lock on
// the read path. buckets_free counts the buckets waiting on free_inc and
// the freelists; the allocator keeps those empty whatever the cache holds,
// so they are left out of the capacity too, and a cache that holds all it
// can reads as 100% full (else a small cache, whose reserves are a large
// share of it, could never reach the trigger).
CacheFill CacheSet::cache_fill() const {
    const std::uint64_t total = core_->counters.buckets_total.load(std::memory_order_relaxed);
    const std::uint64_t free = std::min(core_->counters.buckets_free.load(std::memory_order_relaxed), total);
    std::uint64_t reserve = 0;
    for (unsigned d = 0; d < core_->alloc->ndevices(); ++d) reserve += core_->alloc->device(d).reserve_capacity();
    if (reserve >= total) return CacheFill{total - free, total};
    const std::uint64_t fillable = total - reserve;
    return CacheFill{std::min(total - free, fillable), fillable};
}

PromotionTunables CacheSet::promotion_tunables() const { return promotion_->tunables(); }

Status CacheSet::set_promotion_tunables(const PromotionTunables& tunables) {
    return promotion_->set_tunables(tunables);
}

}  // namespace bcl
