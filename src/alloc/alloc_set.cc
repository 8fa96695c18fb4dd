#include "bcachefs_lite/alloc/alloc_set.h"

#include <algorithm>
#include <cassert>
#include <fmt/format.h>

namespace bcl {

Result<std::unique_ptr<AllocSet>> AllocSet::create(std::span<CacheDeviceConfig> devices, GenStore& gen_store,
                                                   boost::asio::any_io_executor executor) {
    if (devices.empty()) return make_error(Errc::invalid, "a cache set needs at least one cache device");
    std::uint64_t total_sectors = 0;
    std::vector<std::unique_ptr<CacheAllocator>> allocators;
    for (std::size_t i = 0; i < devices.size(); ++i) {
        const Geometry& g = devices[i].geometry;
        if (g.bucket_sectors != devices[0].geometry.bucket_sectors ||
            g.block_sectors != devices[0].geometry.block_sectors)
            return make_error(Errc::invalid,
                              fmt::format("cache device {} has another bucket or block size than device 0", i));
        auto a =
            CacheAllocator::create(static_cast<unsigned>(i), g, gen_store, executor, std::move(devices[i].options));
        if (!a) return a.error();
        allocators.push_back(std::move(a).value());
        total_sectors += g.nbuckets * g.bucket_sectors;
    }
    const auto interval = std::max<std::int64_t>(1, static_cast<std::int64_t>(total_sectors / 1024));
    auto set = std::unique_ptr<AllocSet>(new AllocSet(std::move(allocators), interval));
    return set;
}

AllocSet::AllocSet(std::vector<std::unique_ptr<CacheAllocator>> devices, std::int64_t rescale_interval)
    : devices_(std::move(devices)),
      bucket_sectors_(devices_[0]->geometry().bucket_sectors),
      block_sectors_(devices_[0]->geometry().block_sectors),
      rescale_interval_(rescale_interval),
      rescale_(rescale_interval) {}

Result<AllocPtrs> AllocSet::alloc_set(Reserve reserve, unsigned n, bool wait, std::uint32_t avoid_devs) {
    std::vector<unsigned> order;
    for (unsigned d = 0; d < devices_.size(); ++d)
        if ((avoid_devs & (1u << d)) == 0) order.push_back(d);
    if (n == 0 || n > order.size() || n > kMaxAllocSet)
        return make_error(Errc::invalid, fmt::format("cannot take {} buckets from {} cache devices", n, order.size()));
    if (order.size() > 1) {
        // The count is a snapshot: another allocation may change it, which
        // only makes the order a little less exact.
        std::vector<std::size_t> ready(devices_.size(), 0);
        for (unsigned d : order) ready[d] = devices_[d]->ready_buckets();
        const unsigned turn = rotation_.fetch_add(1, std::memory_order_relaxed);
        const auto ndev = static_cast<unsigned>(devices_.size());
        std::sort(order.begin(), order.end(), [&](unsigned a, unsigned b) {
            if (ready[a] != ready[b]) return ready[a] > ready[b];
            return (a + ndev - turn % ndev) % ndev < (b + ndev - turn % ndev) % ndev;
        });
        order.resize(n);
        std::sort(order.begin(), order.end());
    }
    AllocPtrs ptrs;
    for (unsigned i = 0; i < n; ++i) {
        const unsigned d = order[i];
        CacheAllocator& ca = *devices_[d];
        auto b = ca.bucket_alloc(reserve, wait);
        if (!b) {
            bucket_free(ptrs);
            put(ptrs);
            return b.error();
        }
        // The bucket is ours (pinned) and its gen cannot change under us.
        const std::uint64_t bucket = b.value();
        ptrs.ptr[i] = AllocPtr{d, bucket, ca.bucket(bucket).gen, bucket * ca.geometry().bucket_sectors};
        ptrs.nptrs = i + 1;
    }
    return ptrs;
}

void AllocSet::bucket_free(const AllocPtrs& ptrs) {
    for (const AllocPtr& p : ptrs) devices_[p.dev]->bucket_free(p.bucket);
}

void AllocSet::put(const AllocPtrs& ptrs) {
    for (const AllocPtr& p : ptrs) devices_[p.dev]->put(p.bucket);
}

void AllocSet::rescale_priorities(std::int64_t sectors) {
    rescale_.fetch_sub(sectors, std::memory_order_relaxed);
    std::int64_t r = rescale_.load(std::memory_order_relaxed);
    // One thread wins the right to age: the one that moves the countdown
    // back up by one interval.
    do {
        if (r >= 0) return;
    } while (!rescale_.compare_exchange_weak(r, r + rescale_interval_, std::memory_order_relaxed));
    for (auto& d : devices_) d->age_prios();
}

std::uint8_t AllocSet::need_gc() const {
    std::uint8_t need = 0;
    for (const auto& d : devices_) need = std::max(need, d->need_gc());
    return need;
}

void AllocSet::wake_all() {
    for (auto& d : devices_) d->wake();
}

void AllocSet::shutdown() {
    for (auto& d : devices_) d->shutdown();
}

}  // namespace bcl
