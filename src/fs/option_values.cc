#include "option_values.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>

#include "bcachefs_lite/util/size.h"

namespace bcl {

Result<bool> parse_bool_value(std::string_view name, std::string_view text) {
    for (std::string_view yes : {"", "1", "true", "yes", "on"}) {
        if (text == yes) return true;
    }
    for (std::string_view no : {"0", "false", "no", "off"}) {
        if (text == no) return false;
    }
    return make_error(Errc::invalid, fmt::format("invalid value '{}' for {}: expected yes or no", text, name));
}

Result<unsigned> parse_whole_value(std::string_view name, std::string_view text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return make_error(Errc::invalid,
                          fmt::format("invalid value '{}' for {}: expected a whole number", text, name));
    }
    return value;
}

Status parse_writeback_percent(WritebackTunables& t, std::string_view text) {
    auto v = parse_whole_value("writeback_percent", text);
    if (!v) return v.error();
    t.writeback_percent = v.value();
    return ok();
}

Status parse_writeback_delay(WritebackTunables& t, std::string_view text) {
    auto v = parse_whole_value("writeback_delay", text);
    if (!v) {
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for writeback_delay: expected a "
                                                     "whole number of seconds",
                                                     text));
    }
    t.writeback_delay = std::chrono::seconds(v.value());
    return ok();
}

Status parse_writeback_rate_minimum(WritebackTunables& t, std::string_view text) {
    auto v = parse_size(text, "writeback_rate_minimum");
    if (!v) {
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for writeback_rate_minimum: expected "
                                                     "bytes per second, such as 4096 or 4K",
                                                     text));
    }
    t.writeback_rate_minimum = v.value();
    return ok();
}

Status parse_writeback_running(WritebackTunables& t, std::string_view text) {
    auto v = parse_bool_value("writeback_running", text);
    if (!v) return v.error();
    t.writeback_running = v.value();
    return ok();
}

Status parse_cutoff_writeback(WritebackTunables& t, std::string_view text) {
    auto v = parse_whole_value("cutoff_writeback", text);
    if (!v) return v.error();
    t.cutoff_writeback = v.value();
    return ok();
}

Status parse_cutoff_writeback_sync(WritebackTunables& t, std::string_view text) {
    auto v = parse_whole_value("cutoff_writeback_sync", text);
    if (!v) return v.error();
    t.cutoff_writeback_sync = v.value();
    return ok();
}

namespace {

const TunableText kWritebackTunables[] = {
    {"writeback_percent", parse_writeback_percent,
     [](const WritebackTunables& t) { return std::to_string(t.writeback_percent); }},
    {"writeback_delay", parse_writeback_delay,
     [](const WritebackTunables& t) { return std::to_string(t.writeback_delay.count()); }},
    {"writeback_rate_minimum", parse_writeback_rate_minimum,
     [](const WritebackTunables& t) { return std::to_string(t.writeback_rate_minimum); }},
    {"writeback_running", parse_writeback_running,
     [](const WritebackTunables& t) { return std::string(t.writeback_running ? "1" : "0"); }},
    {"cutoff_writeback", parse_cutoff_writeback,
     [](const WritebackTunables& t) { return std::to_string(t.cutoff_writeback); }},
    {"cutoff_writeback_sync", parse_cutoff_writeback_sync,
     [](const WritebackTunables& t) { return std::to_string(t.cutoff_writeback_sync); }},
};

}  // namespace

std::span<const TunableText> writeback_tunable_texts() { return kWritebackTunables; }

const TunableText* find_writeback_tunable(std::string_view name) {
    for (const TunableText& t : kWritebackTunables) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

}  // namespace bcl
