#include "bypass_values.h"

#include <fmt/format.h>

#include "bcachefs_lite/util/size.h"
#include "option_values.h"

namespace bcl {

Status parse_sequential_cutoff(BypassTunables& t, std::string_view text) {
    auto v = parse_size(text, "sequential_cutoff");
    if (!v || v.value() > kMaxSequentialCutoff) {
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for sequential_cutoff: expected a size "
                                                     "below 4G, such as 4M, or 0 to turn it off",
                                                     text));
    }
    t.sequential_cutoff = v.value();
    return ok();
}

Status parse_congested_read_threshold_us(BypassTunables& t, std::string_view text) {
    auto v = parse_whole_value("congested_read_threshold_us", text);
    if (!v) return v.error();
    t.congested_read_threshold_us = v.value();
    return ok();
}

Status parse_congested_write_threshold_us(BypassTunables& t, std::string_view text) {
    auto v = parse_whole_value("congested_write_threshold_us", text);
    if (!v) return v.error();
    t.congested_write_threshold_us = v.value();
    return ok();
}

namespace {

const BypassTunableText kBypassTunables[] = {
    {"sequential_cutoff", parse_sequential_cutoff,
     [](const BypassTunables& t) { return std::to_string(t.sequential_cutoff); }},
    {"congested_read_threshold_us", parse_congested_read_threshold_us,
     [](const BypassTunables& t) { return std::to_string(t.congested_read_threshold_us); }},
    {"congested_write_threshold_us", parse_congested_write_threshold_us,
     [](const BypassTunables& t) { return std::to_string(t.congested_write_threshold_us); }},
};

}  // namespace

std::span<const BypassTunableText> bypass_tunable_texts() { return kBypassTunables; }

const BypassTunableText* find_bypass_tunable(std::string_view name) {
    for (const BypassTunableText& t : kBypassTunables) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

}  // namespace bcl
