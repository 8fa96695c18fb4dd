#include "bcachefs_lite/alloc/open_buckets.h"

#include <algorithm>
#include <cassert>
#include <fmt/format.h>

namespace bcl {

SectorAllocator::SectorAllocator(AllocSet& set, unsigned replicas)
    : set_(set), replicas_(replicas), data_buckets_(kMaxOpenBuckets) {
    assert(replicas >= 1 && replicas <= set.ndevices() && replicas <= kMaxAllocSet);
}

SectorAllocator::~SectorAllocator() { close_all(); }

void SectorAllocator::close_locked(OpenBucket& ob) {
    if (ob.sectors_free != 0) set_.put(ob.ptrs);
    ob.sectors_free = 0;
    ob.ptrs.nptrs = 0;
}

void SectorAllocator::close_all() {
    std::lock_guard lk(data_bucket_lock_);
    for (OpenBucket& ob : data_buckets_) close_locked(ob);
}

SectorAllocator::List::iterator SectorAllocator::pick_locked(const WriteKey& key, unsigned write_point, bool pinned,
                                                             std::uint32_t avoid_devs, AllocPtrs& fresh) {
    // A bucket with space left only takes data of its own class, and none
    // on a device to avoid.
    auto usable = [pinned, avoid_devs](const OpenBucket& ob) {
        if (ob.sectors_free == 0) return true;
        if (ob.pinned != pinned) return false;
        for (const AllocPtr& p : ob.ptrs)
            if (avoid_devs & (1u << p.dev)) return false;
        return true;
    };

    auto ret = data_buckets_.end();
    auto same_writer = data_buckets_.end();
    // Most recently used first.
    for (auto it = data_buckets_.end(); it != data_buckets_.begin();) {
        --it;
        if (!usable(*it)) continue;
        if (it->key == key) {
            ret = it;
            break;
        }
        if (same_writer == data_buckets_.end() && it->write_point == write_point) same_writer = it;
    }
    if (ret == data_buckets_.end()) ret = same_writer;
    if (ret == data_buckets_.end()) ret = std::find_if(data_buckets_.begin(), data_buckets_.end(), usable);
    if (ret == data_buckets_.end()) {
        // Every open bucket holds data of the other class: close the least
        // recently used rather than mix.
        ret = data_buckets_.begin();
        close_locked(*ret);
    }

    if (ret->sectors_free == 0 && fresh.nptrs != 0) {
        ret->ptrs = fresh;
        ret->sectors_free = set_.bucket_sectors();
        ret->pinned = pinned;
        fresh.nptrs = 0;
    }
    if (ret->sectors_free == 0) return data_buckets_.end();
    return ret;
}

Result<SectorAlloc> SectorAllocator::alloc_sectors(const WriteKey& start, std::uint32_t sectors, unsigned write_point,
                                                   bool write_prio, bool pinned, bool wait, std::uint32_t avoid_devs) {
    if (sectors == 0) return make_error(Errc::invalid, "an allocation of 0 sectors");

    AllocPtrs fresh;
    std::unique_lock lk(data_bucket_lock_);
    List::iterator b;
    // Taking a bucket may sleep: do it unlocked, then pick again (another
    // writer may have filled the need meanwhile).
    while ((b = pick_locked(start, write_point, pinned, avoid_devs, fresh)) == data_buckets_.end()) {
        lk.unlock();
        auto r = set_.alloc_set(write_prio ? Reserve::movinggc : Reserve::none, replicas_, wait, avoid_devs);
        if (!r) return r.error();
        fresh = r.value();
        lk.lock();
    }

    SectorAlloc out;
    out.ptrs = b->ptrs;
    out.sectors = std::min(sectors, b->sectors_free);

    // Most recently used now; remember what it was last used for.
    data_buckets_.splice(data_buckets_.end(), data_buckets_, b);
    b->key = WriteKey{start.file_id, start.offset + out.sectors};
    b->write_point = write_point;
    b->sectors_free -= out.sectors;
    for (unsigned i = 0; i < b->ptrs.nptrs; ++i) {
        b->ptrs.ptr[i].offset += out.sectors;
        set_.device(b->ptrs.ptr[i].dev).add_sectors_written(out.sectors);
    }
    if (b->sectors_free < set_.block_sectors()) b->sectors_free = 0;

    // The allocation holds a pin of its own while the bucket stays open; the
    // one that closes it inherits the open bucket's.
    if (b->sectors_free != 0)
        for (const AllocPtr& p : b->ptrs) set_.device(p.dev).dup_pin(p.bucket);
    else
        b->ptrs.nptrs = 0;
    lk.unlock();

    // A bucket taken but not needed after all: nothing was written to it.
    if (fresh.nptrs != 0) {
        set_.bucket_free(fresh);
        set_.put(fresh);
    }
    return out;
}

std::vector<OpenBucketInfo> SectorAllocator::open_buckets() const {
    std::lock_guard lk(data_bucket_lock_);
    std::vector<OpenBucketInfo> v;
    v.reserve(data_buckets_.size());
    for (const OpenBucket& ob : data_buckets_)
        v.push_back(OpenBucketInfo{ob.ptrs, ob.key, ob.write_point, ob.sectors_free, ob.pinned});
    return v;
}

}  // namespace bcl
