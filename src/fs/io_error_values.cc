#include "io_error_values.h"

#include "option_values.h"

namespace bcl {

Status parse_io_error_limit(IoErrorTunables& t, std::string_view text) {
    auto v = parse_whole_value("io_error_limit", text);
    if (!v) return v.error();
    t.io_error_limit = v.value();
    return ok();
}

Status parse_io_error_halflife(IoErrorTunables& t, std::string_view text) {
    auto v = parse_whole_value("io_error_halflife", text);
    if (!v) return v.error();
    t.io_error_halflife = v.value() / kIoErrorHalflifeSteps * kIoErrorHalflifeSteps;
    return ok();
}

namespace {

const IoErrorTunableText kIoErrorTunables[] = {
    {"io_error_limit", parse_io_error_limit, [](const IoErrorTunables& t) { return std::to_string(t.io_error_limit); }},
    {"io_error_halflife", parse_io_error_halflife,
     [](const IoErrorTunables& t) { return std::to_string(t.io_error_halflife); }},
};

}  // namespace

std::span<const IoErrorTunableText> io_error_tunable_texts() { return kIoErrorTunables; }

const IoErrorTunableText* find_io_error_tunable(std::string_view name) {
    for (const IoErrorTunableText& t : kIoErrorTunables) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

}  // namespace bcl
