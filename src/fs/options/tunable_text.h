// TunableText<Path...>: parse and format one field of Tunables for the
// options table, the field named by its path of members
// (&Tunables::writeback, &WritebackTunables::writeback_percent), so that a
// tunable is one row of the table and no code of its own. The field's type
// picks the text (value_text.h): bool, whole number, size, seconds, a mode
// or a promotion policy.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <string_view>

#include "bcachefs_lite/cache/tunables.h"
#include "bcachefs_lite/fs/mount_options.h"
#include "value_text.h"

namespace bcl {

template <auto... Path>
struct TunableText {
    static auto& field(Tunables& t) { return (t.*....*Path); }
    static const auto& field(const Tunables& t) { return (t.*....*Path); }

    static Status parse(const OptionSpec& spec, Tunables& t, std::string_view text) {
        auto value = field(t);
        BCL_TRY(parse_value(spec, text, value));
        field(t) = value;
        return ok();
    }
    static std::string format(const Tunables& t) { return format_value(field(t)); }
};

template <typename T>
inline constexpr bool kIsOptional = false;
template <typename T>
inline constexpr bool kIsOptional<std::optional<T>> = true;

// MountFieldText<Field>: stores the text of a mount-only option into the
// field of MountOptions it names, by the field's type as TunableText does
// (an optional field takes the value), for options that need no check of
// their own.
template <auto Field>
struct MountFieldText {
    static Status apply(const OptionSpec& spec, MountOptions& o, std::string_view text) {
        auto& field = o.*Field;
        using T = std::remove_cvref_t<decltype(field)>;
        if constexpr (kIsOptional<T>) {
            typename T::value_type value{};
            BCL_TRY(parse_value(spec, text, value));
            field = std::move(value);
        } else {
            T value = field;
            BCL_TRY(parse_value(spec, text, value));
            field = std::move(value);
        }
        return ok();
    }
};

// The row of the tunable at Path: an option at mount, and a knob of the
// mount root named `knob` (the option's name unless given); `man` as
// OptionSpec::man.
template <auto... Path>
constexpr OptionSpec tunable_option(std::string_view name, OptionKind kind, std::string_view value_name,
                                    std::string_view default_text, std::string_view description,
                                    std::string_view knob = {}, std::string_view man = {}) {
    return OptionSpec{.name = name,
                      .kind = kind,
                      .value_name = value_name,
                      .default_text = default_text,
                      .description = description,
                      .parse = &TunableText<Path...>::parse,
                      .format = &TunableText<Path...>::format,
                      .knob_name = knob.empty() ? name : knob,
                      .man = man};
}

}  // namespace bcl
