#include "moving_gc_values.h"

#include "option_values.h"

namespace bcl {

Status parse_copy_gc_enabled(MovingGcTunables& t, std::string_view text) {
    auto v = parse_bool_value("copy_gc_enabled", text);
    if (!v) return v.error();
    t.copy_gc_enabled = v.value();
    return ok();
}

namespace {

const MovingGcTunableText kMovingGcTunables[] = {
    {"copy_gc_enabled", parse_copy_gc_enabled,
     [](const MovingGcTunables& t) { return std::string(t.copy_gc_enabled ? "1" : "0"); }},
};

}  // namespace

std::span<const MovingGcTunableText> moving_gc_tunable_texts() { return kMovingGcTunables; }

const MovingGcTunableText* find_moving_gc_tunable(std::string_view name) {
    for (const MovingGcTunableText& t : kMovingGcTunables) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

}  // namespace bcl
