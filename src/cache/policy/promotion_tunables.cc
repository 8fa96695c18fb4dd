#include "bcachefs_lite/cache/promotion_tunables.h"

#include <fmt/format.h>

namespace bcl {

Status validate(const PromotionTunables& t) {
    if (t.promote != PromotePolicy::always && t.promote != PromotePolicy::nhit)
        return make_error(Errc::invalid, "promote is out of range (always or nhit)");
    if (t.promote_hits < kPromoteHitsMin || t.promote_hits > kPromoteHitsMax)
        return make_error(Errc::invalid, fmt::format("promote_hits={} is out of range ({} to {})", t.promote_hits,
                                                     kPromoteHitsMin, kPromoteHitsMax));
    if (t.promote_trigger_percent > 100)
        return make_error(Errc::invalid, fmt::format("promote_trigger_percent={} is out of range (0 to 100)",
                                                     t.promote_trigger_percent));
    return ok();
}

const char* promote_policy_name(PromotePolicy policy) {
    switch (policy) {
    case PromotePolicy::always: return "always";
    case PromotePolicy::nhit: return "nhit";
    }
    return "always";
}

std::optional<PromotePolicy> parse_promote_policy(std::string_view name) {
    for (PromotePolicy p : {PromotePolicy::always, PromotePolicy::nhit})
        if (name == promote_policy_name(p)) return p;
    return std::nullopt;
}

}  // namespace bcl
