#include "io/admission.h"

#include <algorithm>

namespace bcl {

Admission::Admission(CacheCore& core, const PromotionTunables& promotion, const BypassTunables& bypass)
    : core_(core), promotion_(promotion, miss_table_slots(core.capacity_bytes / core.block_size)), bypass_(bypass) {}

bool Admission::promote_miss(std::uint64_t file_id, std::uint64_t offset, std::uint64_t length) {
    const bool admitted = promotion_.admit(MissRange{file_id, offset, length}, cache_fill());
    (admitted ? core_.counters.promotions : core_.counters.promotions_skipped).fetch_add(1, std::memory_order_relaxed);
    return admitted;
}

bool Admission::sequential(std::uint64_t file_id, std::uint64_t offset, std::uint64_t length, std::uint64_t writer) {
    if (file_id == 0 || length == 0) return false;
    const std::uint64_t cutoff = bypass_tunables().sequential_cutoff;
    return sequential_.check(file_id, offset, length, writer, SeqClock::now(), cutoff);
}

bool Admission::sequential_write(CachedFile& file, std::uint64_t offset, std::uint64_t length, std::uint64_t writer) {
    std::uint64_t file_id;
    {
        std::lock_guard lk(file.mutex);
        if (file.bypass) return false;
        file_id = file.record.file_id;
    }
    return sequential(file_id, offset, length, writer);
}

bool Admission::insert_congested() {
    if (!core_.congestion.congested(bypass_tunables(), SeqClock::now())) return false;
    core_.counters.congested_skips.fetch_add(1, std::memory_order_relaxed);
    return true;
}

// From the figures GC stores at the end of every pass: two atomic loads,
// where a fresh count would walk every bucket under the allocator's lock on
// the read path. buckets_free counts the buckets waiting on free_inc and
// the freelists; the allocator keeps those empty whatever the cache holds,
// so they are left out of the capacity too, and a cache that holds all it
// can reads as 100% full (else a small cache, whose reserves are a large
// share of it, could never reach the trigger).
CacheFill Admission::cache_fill() const {
    const std::uint64_t total = core_.counters.buckets_total.load(std::memory_order_relaxed);
    const std::uint64_t free = std::min(core_.counters.buckets_free.load(std::memory_order_relaxed), total);
    std::uint64_t reserve = 0;
    for (unsigned d = 0; d < core_.alloc->ndevices(); ++d) reserve += core_.alloc->device(d).reserve_capacity();
    if (reserve >= total) return CacheFill{total - free, total};
    const std::uint64_t fillable = total - reserve;
    return CacheFill{std::min(total - free, fillable), fillable};
}

BypassTunables Admission::bypass_tunables() const {
    std::lock_guard lk(bypass_mutex_);
    return bypass_;
}

Status Admission::set_bypass_tunables(const BypassTunables& tunables) {
    BCL_TRY(validate(tunables));
    std::lock_guard lk(bypass_mutex_);
    bypass_ = tunables;
    return ok();
}

}  // namespace bcl
