// Admission: which I/O the cache takes, as one part over the core. It asks
// the promotion policy whether a read miss goes in (promotion.h), the
// sequential detector whether a read or write continues a run past
// sequential_cutoff, and the congestion meter whether the cache device is
// too slow for inserts (sequential.h), which the core's reads and writes
// feed. The route of each request, from these answers, the mode and the
// service state, is resolved in cache/route.h.
//
// A read that continues a sequential run past sequential_cutoff still
// serves what the cache holds, but inserts nothing; such a write takes the
// direct path whatever the mode, and caches nothing. While the cache
// device's reads or writes are slower on average than their congestion
// threshold, miss inserts and writethrough inserts are skipped.
//
// Thread safety: every function may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "bcachefs_lite/cache/cached_file.h"
#include "bcachefs_lite/cache/promotion.h"
#include "bcachefs_lite/cache/sequential.h"
#include "core/core.h"

namespace bcl {

class Admission {
public:
    // After the core's allocators are built: the miss table is sized by the
    // cache's capacity.
    Admission(CacheCore& core, const PromotionTunables& promotion, const BypassTunables& bypass);

    // Whether a missed range [offset, offset + length) of the file is
    // inserted; counts promotions and promotions_skipped.
    bool promote_miss(std::uint64_t file_id, std::uint64_t offset, std::uint64_t length);
    // Whether an I/O of the file bypasses the cache as sequential (the
    // caller counts its bytes in bypassed).
    bool sequential(std::uint64_t file_id, std::uint64_t offset, std::uint64_t length, std::uint64_t writer);
    // The same for a write of the file (none while the file is bypassed).
    bool sequential_write(CachedFile& file, std::uint64_t offset, std::uint64_t length, std::uint64_t writer);
    // Whether an insert is skipped for congestion (counted in congested_skips).
    bool insert_congested();

    // How full the cache is, as promotion's trigger sees it: data buckets
    // in use of all data buckets, as the last GC pass counted them (the
    // stats' buckets_total - buckets_free).
    CacheFill cache_fill() const;
    const PromotionPolicy& promotion() const { return promotion_; }

    PromotionTunables promotion_tunables() const { return promotion_.tunables(); }
    // Errc::invalid (nothing changed) for values out of range.
    Status set_promotion_tunables(const PromotionTunables& tunables) { return promotion_.set_tunables(tunables); }
    BypassTunables bypass_tunables() const;
    // Errc::invalid (nothing changed) for values out of range.
    Status set_bypass_tunables(const BypassTunables& tunables);

private:
    CacheCore& core_;
    PromotionPolicy promotion_;
    SequentialDetector sequential_;
    mutable std::mutex bypass_mutex_;
    BypassTunables bypass_;  // guarded by bypass_mutex_
};

}  // namespace bcl
