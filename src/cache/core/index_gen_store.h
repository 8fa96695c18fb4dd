// IndexGenStore: the GenStore of a cache set. persist() flushes the cache
// device first, then writes the batch's gens and prios to the index in one
// synced write (Index::put_bucket_gens): an index write that is synced
// makes every earlier unsynced index write durable too, and none of those
// may point at cache data that is not (index_format.h, rule 2).
//
// Thread safety: persist() may be called concurrently (one call per device
// at a time, from the allocators' strands).
#pragma once

#include <memory>
#include <vector>

#include "bcachefs_lite/alloc/gen_store.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/index/index.h"

namespace bcl {

class IndexGenStore final : public GenStore {
public:
    // devices[i] is cache device i; both must outlive this.
    IndexGenStore(Index& index, const std::vector<std::unique_ptr<CacheDevice>>& devices)
        : index_(index), devices_(devices) {}

    Status persist(unsigned dev, std::span<const BucketGenPrio> buckets) override;

private:
    Index& index_;
    const std::vector<std::unique_ptr<CacheDevice>>& devices_;
};

}  // namespace bcl
