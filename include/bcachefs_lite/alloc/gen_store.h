// GenStore: where the allocator makes bumped bucket gens durable (the seed's
// prio_write). The index layer implements it with one synced RocksDB
// WriteBatch per call; tests use a double.
//
// Persistence order (invariant 1 of DESIGN.md): a bucket invalidated by the
// allocator stays on free_inc until persist() has returned success for a
// batch holding its new gen. Only then may it reach a freelist, be
// discarded, or be written. After a crash every pointer into a reused bucket
// therefore carries an older gen than the one on disk and reads as stale.
//
// Thread safety: persist() is called from the allocator's strand, one call at
// a time per device, without any allocator lock held; it may block (a synced
// write). Implementations used by several devices must be thread-safe.
#pragma once

#include <span>

#include "bcachefs_lite/alloc/alloc_types.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

class GenStore {
public:
    virtual ~GenStore() = default;

    // Durably records the gen and prio of every bucket in `buckets` of cache
    // device `dev`, all or nothing. Returns only once they are durable.
    [[nodiscard]] virtual Status persist(unsigned dev, std::span<const BucketGenPrio> buckets) = 0;
};

}  // namespace bcl
