#include "bcachefs_lite/cache/promotion.h"

#include <algorithm>

namespace bcl {

namespace {

// The tunables in one word: policy in bits 16-23, hits in 8-15, trigger
// percent in 0-7 (each fits in 8 bits once validated).
std::uint32_t pack(const PromotionTunables& t) {
    return static_cast<std::uint32_t>(t.promote) << 16 | t.promote_hits << 8 | t.promote_trigger_percent;
}

PromotionTunables unpack(std::uint32_t v) {
    PromotionTunables t;
    t.promote = static_cast<PromotePolicy>(v >> 16 & 0xff);
    t.promote_hits = v >> 8 & 0xff;
    t.promote_trigger_percent = v & 0xff;
    return t;
}

// splitmix64's finaliser.
std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

// Open CAS's rule: the policy applies once used >= trigger% of total.
bool policy_applies(const CacheFill& fill, unsigned trigger_percent) {
    if (fill.total == 0) return true;
    return fill.used * 100 >= std::uint64_t{trigger_percent} * fill.total;
}

}  // namespace

std::size_t miss_table_slots(std::uint64_t data_blocks) {
    return static_cast<std::size_t>(std::clamp<std::uint64_t>(data_blocks, kMinMissTableSlots, kMaxMissTableSlots));
}

std::uint64_t range_hash(const MissRange& r) { return mix(mix(mix(r.file_id) ^ r.offset) ^ r.length); }

PromotionPolicy::PromotionPolicy(const PromotionTunables& tunables, std::size_t table_slots)
    : packed_(pack(tunables)), misses_(table_slots) {}

PromotionTunables PromotionPolicy::tunables() const { return unpack(packed_.load(std::memory_order_relaxed)); }

Status PromotionPolicy::set_tunables(const PromotionTunables& tunables) {
    BCL_TRY(validate(tunables));
    packed_.store(pack(tunables), std::memory_order_relaxed);
    return ok();
}

bool PromotionPolicy::admit(const MissRange& range, const CacheFill& fill) {
    const PromotionTunables t = tunables();
    if (t.promote == PromotePolicy::always) return true;
    if (!policy_applies(fill, t.promote_trigger_percent)) return true;
    return misses_.record(range_hash(range)) >= t.promote_hits;
}

}  // namespace bcl
