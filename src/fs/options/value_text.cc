#include "value_text.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "bcachefs_lite/fs/mount_options.h"
#include "bcachefs_lite/util/size.h"

namespace bcl {

namespace {

// "a|b|c" as "a, b or c".
std::string choices_text(std::string_view value_name) {
    std::string out(value_name);
    const std::size_t last = out.rfind('|');
    if (last != std::string::npos) out.replace(last, 1, " or ");
    for (std::size_t bar; (bar = out.find('|')) != std::string::npos;) out.replace(bar, 1, ", ");
    return out;
}

Status invalid_choice(const OptionSpec& spec, std::string_view text) {
    return make_error(Errc::invalid, fmt::format("invalid value '{}' for {}: expected {}", text, spec.name,
                                                 choices_text(spec.value_name)));
}

// A parsed value into `out`, or its error.
template <typename T, typename U>
Status assign(Result<T> value, U& out) {
    if (!value) return value.error();
    out = std::move(value).value();
    return ok();
}

// One of the words an enum's parser knows.
template <typename T>
Status parse_choice(const OptionSpec& spec, std::string_view text, std::optional<T> (*parse)(std::string_view),
                    T& out) {
    auto value = parse(text);
    if (!value) return invalid_choice(spec, text);
    out = *value;
    return ok();
}

std::optional<IdentityOption> parse_identity_option(std::string_view text) {
    for (IdentityOption o : {IdentityOption::automatic, IdentityOption::inode, IdentityOption::path})
        if (text == identity_option_name(o)) return o;
    return std::nullopt;
}

}  // namespace

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
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for {}: expected a whole number", text, name));
    }
    return value;
}

Result<double> parse_seconds_value(std::string_view name, std::string_view text) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < 0 ||
        value > 1e9) {
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for {}: expected a number of seconds, "
                                                     "0 or more",
                                                     text, name));
    }
    return value;
}

Status parse_value(const OptionSpec& spec, std::string_view text, bool& out) {
    return assign(parse_bool_value(spec.name, text), out);
}

Status parse_value(const OptionSpec& spec, std::string_view text, unsigned& out) {
    return assign(parse_whole_value(spec.name, text), out);
}

Status parse_value(const OptionSpec& spec, std::string_view text, std::uint64_t& out) {
    auto v = parse_size(text, spec.name);
    if (!v) {
        return make_error(
            Errc::invalid,
            fmt::format("invalid value '{}' for {}: expected a size such as 4096, 512K or 4M", text, spec.name));
    }
    out = v.value();
    return ok();
}

Status parse_value(const OptionSpec& spec, std::string_view text, std::chrono::seconds& out) {
    auto v = parse_whole_value(spec.name, text);
    if (!v) {
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for {}: expected a whole number of seconds",
                                                     text, spec.name));
    }
    out = std::chrono::seconds(v.value());
    return ok();
}

Status parse_value(const OptionSpec& spec, std::string_view text, CacheMode& out) {
    return parse_choice(spec, text, parse_cache_mode, out);
}

Status parse_value(const OptionSpec& spec, std::string_view text, PromotePolicy& out) {
    return parse_choice(spec, text, parse_promote_policy, out);
}

Status parse_value(const OptionSpec& spec, std::string_view text, double& out) {
    return assign(parse_seconds_value(spec.name, text), out);
}

Status parse_value(const OptionSpec& spec, std::string_view text, Replacement& out) {
    return parse_choice(spec, text, parse_replacement, out);
}

Status parse_value(const OptionSpec& spec, std::string_view text, IdentityOption& out) {
    return parse_choice(spec, text, parse_identity_option, out);
}

Status parse_value(const OptionSpec& spec, std::string_view text, std::string& out) {
    if (text.empty())
        return make_error(Errc::invalid,
                          fmt::format("{}= needs a value: {}={}", spec.name, spec.name, spec.value_name));
    out = text;
    return ok();
}

std::string format_value(bool value) { return value ? "1" : "0"; }
std::string format_value(unsigned value) { return std::to_string(value); }
std::string format_value(std::uint64_t value) { return std::to_string(value); }
std::string format_value(std::chrono::seconds value) { return std::to_string(value.count()); }
// The shortest fixed-point text that reads back as the same number (3,
// 0.5; never an exponent, which the parser does not take).
std::string format_value(double value) {
    char buf[512];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
    return ec == std::errc() ? std::string(buf, end) : std::string("?");
}
std::string format_value(CacheMode value) { return cache_mode_name(value); }
std::string format_value(PromotePolicy value) { return promote_policy_name(value); }

}  // namespace bcl
