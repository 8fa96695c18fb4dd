// AllocSet: the allocators of every cache device of one cache set (bcache's
// struct cache_set, allocation half). It takes one bucket from each of n
// devices at once (alloc_set, for replicated writes), frees and unpins sets
// of pointers, and ages prios as data is read (rescale_priorities).
//
// All devices share one bucket size and block size (one superblock geometry
// per set, as in bcache); their bucket counts may differ.
//
// Thread safety: every function may be called from any thread; the
// per-device state is guarded by each CacheAllocator's own bucket lock and
// the rescale countdown is atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "bcachefs_lite/alloc/alloc_types.h"
#include "bcachefs_lite/alloc/cache_allocator.h"
#include "bcachefs_lite/alloc/gen_store.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

struct CacheDeviceConfig {
    Geometry geometry;
    AllocatorOptions options;
};

class AllocSet {
public:
    // Device i gets dev number i. Errc::invalid for no device, a geometry
    // BucketTable::validate() refuses, or devices that disagree on bucket or
    // block size.
    static Result<std::unique_ptr<AllocSet>> create(std::span<CacheDeviceConfig> devices, GenStore& gen_store,
                                                    boost::asio::any_io_executor executor);

    std::size_t ndevices() const { return devices_.size(); }
    CacheAllocator& device(unsigned dev) { return *devices_[dev]; }
    const CacheAllocator& device(unsigned dev) const { return *devices_[dev]; }
    std::uint32_t bucket_sectors() const { return bucket_sectors_; }
    std::uint32_t block_sectors() const { return block_sectors_; }

    // One bucket from each of n devices (bch_bucket_alloc_set),
    // 1 <= n <= min(ndevices(), kMaxAllocSet): the devices with the most
    // buckets ready on their freelists first, as bcache's cache_by_alloc
    // intends, and among equals a different one first each call, so that
    // single copies spread over every device instead of filling device 0.
    // Devices in avoid_devs (bit d: device d) are not used. Each pointer
    // addresses the start of its bucket and holds the bucket's pin; the
    // pointers are in device order. On failure, the buckets already taken
    // are freed and unpinned, and the error of the device that failed is
    // returned (Errc::again, Errc::shutdown; Errc::invalid when fewer than
    // n devices are left to use).
    Result<AllocPtrs> alloc_set(Reserve reserve, unsigned n, bool wait, std::uint32_t avoid_devs = 0);
    // bch_bucket_free on every pointer: the buckets hold nothing live.
    void bucket_free(const AllocPtrs& ptrs);
    // bkey_put: drops one pin on every pointer's bucket.
    void put(const AllocPtrs& ptrs);
    // A read hit on a pointer.
    void bucket_hit(const AllocPtr& ptr) { devices_[ptr.dev]->bucket_hit(ptr.bucket); }

    // Counts `sectors` read; every rescale_interval() sectors, every
    // unpinned prio of every device drops by one and min_prio is recomputed.
    void rescale_priorities(std::int64_t sectors);
    // Sectors between two aging rounds: the set's total sectors / 1024
    // (at least 1). The countdown starts at this value.
    std::int64_t rescale_interval() const { return rescale_interval_; }

    // Largest need_gc of any device.
    std::uint8_t need_gc() const;
    void wake_all();
    void shutdown();

private:
    AllocSet(std::vector<std::unique_ptr<CacheAllocator>> devices, std::int64_t rescale_interval);

    std::vector<std::unique_ptr<CacheAllocator>> devices_;  // fixed after create
    std::uint32_t bucket_sectors_ = 0;
    std::uint32_t block_sectors_ = 0;
    const std::int64_t rescale_interval_;
    std::atomic<std::int64_t> rescale_;  // sectors left before the next aging round
    std::atomic<unsigned> rotation_{0};  // which of equally ready devices goes first
};

}  // namespace bcl
