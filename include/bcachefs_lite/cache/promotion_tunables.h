// The promotion tunables: which read misses are copied into the cache.
//
//   promote=always  every missed range is inserted (bcache's behaviour).
//   promote=nhit    as Open CAS's nhit promotion policy: once the cache is
//                   at least promote_trigger_percent full, a missed range is
//                   inserted only when it has been missed promote_hits times
//                   (this miss included) recently; below that fill level
//                   every miss is inserted, as with always, so an empty
//                   cache still fills at once.
//
// The point is SSD wear: under nhit a range read once is not written to
// flash, and it does not push out data that is read again.
//
// Only read misses are subject to promotion. Writes are cached as the cache
// mode says (writethrough caches what it wrote, writeback writes dirty
// data) whatever the policy.
//
// How full the cache is (Admission::cache_fill(), src/cache/io/admission.h):
// the data buckets in use (the statistics' buckets_total - buckets_free)
// out of those the cache can fill, which are all data buckets but the
// allocator's reserve (free_inc and the freelists, which it keeps empty
// whatever the cache holds), so a cache that holds all it can is 100%
// full. The counts are those of the last GC pass; a pass runs each time a
// sixteenth of the cache has been written, so the figure lags the fill by
// at most about that much.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "bcachefs_lite/util/error.h"

namespace bcl {

enum class PromotePolicy : std::uint8_t { always, nhit };

// promote_hits may be 2 to 255 (Open CAS's lower bound; the miss counters
// saturate at 255).
inline constexpr unsigned kPromoteHitsMin = 2;
inline constexpr unsigned kPromoteHitsMax = 255;

struct PromotionTunables {
    // Default: always (nothing changes for existing users).
    PromotePolicy promote = PromotePolicy::always;
    // Misses of a range, this one included, before nhit inserts it; 2..255.
    // Default: 2.
    unsigned promote_hits = 2;
    // nhit applies while at least this percent of the cache is in use;
    // 0..100 (0: always applies; 100: only when the cache is completely
    // full). Default: 80, as Open CAS.
    unsigned promote_trigger_percent = 80;

    bool operator==(const PromotionTunables&) const = default;
};

// Errc::invalid with one line naming the tunable that is out of range.
Status validate(const PromotionTunables& tunables);

// "always", "nhit".
const char* promote_policy_name(PromotePolicy policy);
// The policy named exactly so, or nullopt.
std::optional<PromotePolicy> parse_promote_policy(std::string_view name);

}  // namespace bcl
