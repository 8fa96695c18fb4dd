#include "promotion_values.h"

#include <fmt/format.h>

#include "option_values.h"

namespace bcl {

Status parse_promote(PromotionTunables& t, std::string_view text) {
    auto policy = parse_promote_policy(text);
    if (!policy)
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for promote: expected always or nhit", text));
    t.promote = *policy;
    return ok();
}

Status parse_promote_hits(PromotionTunables& t, std::string_view text) {
    auto v = parse_whole_value("promote_hits", text);
    if (!v) return v.error();
    t.promote_hits = v.value();
    return ok();
}

Status parse_promote_trigger_percent(PromotionTunables& t, std::string_view text) {
    auto v = parse_whole_value("promote_trigger_percent", text);
    if (!v) return v.error();
    t.promote_trigger_percent = v.value();
    return ok();
}

namespace {

const PromotionTunableText kPromotionTunables[] = {
    {"promote", parse_promote, [](const PromotionTunables& t) { return std::string(promote_policy_name(t.promote)); }},
    {"promote_hits", parse_promote_hits, [](const PromotionTunables& t) { return std::to_string(t.promote_hits); }},
    {"promote_trigger_percent", parse_promote_trigger_percent,
     [](const PromotionTunables& t) { return std::to_string(t.promote_trigger_percent); }},
};

}  // namespace

std::span<const PromotionTunableText> promotion_tunable_texts() { return kPromotionTunables; }

const PromotionTunableText* find_promotion_tunable(std::string_view name) {
    for (const PromotionTunableText& t : kPromotionTunables) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

}  // namespace bcl
