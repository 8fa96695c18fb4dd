// CacheAllocator, foreground: taking and freeing buckets, pins, hits, and the
// GC-facing calls. The background task is in allocator_task.cc.
#include <algorithm>
#include <cassert>
#include <fmt/format.h>

#include "bcachefs_lite/alloc/cache_allocator.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/sector.h"

namespace bcl {

FreelistSizes freelist_sizes(const Geometry& geometry) {
    const std::uint64_t bucket_bytes = std::uint64_t{geometry.bucket_sectors} * kSectorSize;
    const std::uint64_t burst =
        std::min<std::uint64_t>((kFreeBurstBytes + bucket_bytes - 1) / bucket_bytes, geometry.nbuckets >> 5);
    const std::size_t free =
        std::max<std::size_t>({roundup_pow_of_two(geometry.nbuckets) >> 10, kMinFree, static_cast<std::size_t>(burst)});
    return FreelistSizes{free, free << 2, free << 3};
}

Status CacheAllocator::check_bucket(std::uint64_t bucket) const {
    if (bucket >= geometry_.nbuckets)
        return make_error(Errc::invalid,
                          fmt::format("bucket {} is beyond device {}'s {} buckets", bucket, dev_, geometry_.nbuckets));
    return ok();
}

std::optional<std::uint64_t> CacheAllocator::pop_free_locked(Reserve reserve) {
    if (auto b = free_[static_cast<std::size_t>(Reserve::none)].pop()) return b;
    return free_[static_cast<std::size_t>(reserve)].pop();
}

Result<std::uint64_t> CacheAllocator::bucket_alloc(Reserve reserve, bool wait) {
    std::unique_lock lk(bucket_lock_);
    std::optional<std::uint64_t> b;
    for (;;) {
        if (stopping_) return make_error(Errc::shutdown, "the allocator is shutting down");
        b = pop_free_locked(reserve);
        if (b) break;
        if (!wait) {
            ++stats_.alloc_failures;
            lk.unlock();
            wake();
            return make_error(Errc::again, fmt::format("no free bucket ready on cache device {}", dev_));
        }
        ++waiters_;
        ++stats_.alloc_waits;
        wake();
        bucket_wait_.wait(lk);
        --waiters_;
    }
    // Invalidation pinned it; that pin is now the caller's, until the data
    // written there is reachable through the index (put()).
    assert(table_.pin(*b) == 1);
    // Its old data stops being read here, under the lock, before the caller
    // can write anything to it.
    table_.mark_allocated(*b);
    ++stats_.allocs;
    lk.unlock();
    wake();
    return *b;
}

void CacheAllocator::bucket_free(std::uint64_t bucket) {
    std::lock_guard lk(bucket_lock_);
    table_.mark_free(bucket);
}

Status CacheAllocator::pin(std::uint64_t bucket, std::uint8_t gen) {
    BCL_TRY(check_bucket(bucket));
    std::lock_guard lk(bucket_lock_);
    if (table_[bucket].gen != gen)
        return make_error(Errc::stale, fmt::format("bucket {} of device {} was reused", bucket, dev_));
    table_.pin_get(bucket);
    return ok();
}

void CacheAllocator::dup_pin(std::uint64_t bucket) {
    assert(table_.pin(bucket) > 0);
    table_.pin_get(bucket);
}

void CacheAllocator::put(std::uint64_t bucket) {
    [[maybe_unused]] const std::uint16_t before = table_.pin_put(bucket);
    assert(before > 0);
}

void CacheAllocator::bucket_hit(std::uint64_t bucket) { table_.set_prio(bucket, kInitialPrio); }

bool CacheAllocator::ptr_stale(std::uint64_t bucket, std::uint8_t gen) const {
    if (bucket >= geometry_.nbuckets) return true;
    std::lock_guard lk(bucket_lock_);
    return !table_.serves(bucket, gen);
}

void CacheAllocator::age_prios() {
    std::lock_guard lk(bucket_lock_);
    table_.age_prios();
}

Status CacheAllocator::load(std::span<const BucketGenPrio> buckets) {
    std::lock_guard lk(bucket_lock_);
    if (gc_ever_valid_)
        return make_error(Errc::busy,
                          fmt::format("cache device {}: gens can only be loaded before the first GC", dev_));
    return table_.load(buckets);
}

void CacheAllocator::gc_start() {
    std::lock_guard lk(bucket_lock_);
    table_.gc_start();
}

Status CacheAllocator::gc_mark(std::uint64_t bucket, std::uint8_t gen, GcMark mark, std::uint32_t sectors) {
    BCL_TRY(check_bucket(bucket));
    std::lock_guard lk(bucket_lock_);
    if (table_[bucket].gen != gen)
        return make_error(Errc::stale, fmt::format("pointer into bucket {} of device {} is stale", bucket, dev_));
    table_.gc_mark(bucket, mark, sectors);
    return ok();
}

void CacheAllocator::gc_mark_many(std::span<GcPtrMark> ptrs) {
    std::lock_guard lk(bucket_lock_);
    for (GcPtrMark& p : ptrs) {
        p.counted = p.bucket < geometry_.nbuckets && table_[p.bucket].gen == p.gen;
        if (p.counted) table_.gc_mark(p.bucket, p.mark, p.sectors);
        p.readable = p.bucket < geometry_.nbuckets && table_.serves(p.bucket, p.gen);
    }
}

Status CacheAllocator::set_last_gc(std::uint64_t bucket, std::uint8_t gen) {
    BCL_TRY(check_bucket(bucket));
    std::lock_guard lk(bucket_lock_);
    table_.set_last_gc(bucket, gen);
    return ok();
}

void CacheAllocator::gc_finish() {
    {
        std::lock_guard lk(bucket_lock_);
        table_.gc_finish();
        gc_ever_valid_ = true;
        invalidate_needs_gc_ = false;
    }
    wake();
}

void CacheAllocator::set_replacement(Replacement policy) {
    std::lock_guard lk(bucket_lock_);
    invalidator_.set_replacement(policy);
}

Replacement CacheAllocator::replacement() const {
    std::lock_guard lk(bucket_lock_);
    return invalidator_.replacement();
}

void CacheAllocator::set_random_seed(std::uint64_t seed) {
    std::lock_guard lk(bucket_lock_);
    invalidator_.set_random_seed(seed);
}

BucketInfo CacheAllocator::bucket(std::uint64_t bucket) const {
    std::lock_guard lk(bucket_lock_);
    return table_.info(bucket);
}

namespace {
std::vector<std::uint64_t> contents(const Fifo<std::uint64_t>& f) {
    std::vector<std::uint64_t> v;
    v.reserve(f.size());
    for (std::size_t i = 0; i < f.size(); ++i) v.push_back(f.at(i));
    return v;
}
}  // namespace

std::vector<std::uint64_t> CacheAllocator::free_inc() const {
    std::lock_guard lk(bucket_lock_);
    return contents(free_inc_);
}

std::size_t CacheAllocator::ready_buckets() const {
    std::lock_guard lk(bucket_lock_);
    std::size_t n = 0;
    for (const auto& f : free_) n += f.size();
    return n;
}

std::vector<std::uint64_t> CacheAllocator::freelist(Reserve reserve) const {
    std::lock_guard lk(bucket_lock_);
    return contents(free_[static_cast<std::size_t>(reserve)]);
}

bool CacheAllocator::free_inc_durable() const {
    std::lock_guard lk(bucket_lock_);
    return free_inc_durable_;
}

bool CacheAllocator::invalidate_needs_gc() const {
    std::lock_guard lk(bucket_lock_);
    return invalidate_needs_gc_;
}

bool CacheAllocator::gc_mark_valid() const {
    std::lock_guard lk(bucket_lock_);
    return table_.gc_mark_valid();
}

std::uint8_t CacheAllocator::need_gc() const {
    std::lock_guard lk(bucket_lock_);
    return table_.need_gc();
}

std::uint16_t CacheAllocator::min_prio() const {
    std::lock_guard lk(bucket_lock_);
    return table_.min_prio();
}

std::size_t CacheAllocator::waiters() const {
    std::lock_guard lk(bucket_lock_);
    return waiters_;
}

AllocatorStats CacheAllocator::stats() const {
    std::lock_guard lk(bucket_lock_);
    return stats_;
}

std::size_t CacheAllocator::memory_bytes() const {
    std::lock_guard lk(bucket_lock_);
    std::size_t n = table_.memory_bytes() + invalidator_.memory_bytes();
    n += free_inc_.capacity() * sizeof(std::uint64_t);
    for (const auto& f : free_) n += f.capacity() * sizeof(std::uint64_t);
    return n;
}

}  // namespace bcl
