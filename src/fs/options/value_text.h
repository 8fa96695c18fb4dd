// Option values as people type them, shared by the mount options
// (writeback_percent=10, discard=no) and the knobs of the mount root
// (setfattr -n user.bcachefs_lite.writeback_percent -v 10), so that both
// accept, and show, the same text. A parser checks the syntax only and
// names the option in its one-line error; ranges are the engine's
// validate() (cache/tunables.h), checked once every value is known (a mount
// may give cutoff_writeback=80 before cutoff_writeback_sync=90).
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "bcachefs_lite/cache/cache_mode.h"
#include "bcachefs_lite/cache/promotion_tunables.h"
#include "bcachefs_lite/fs/mount_options.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/replacement.h"

namespace bcl {

// "", "1", "true", "yes", "on" and "0", "false", "no", "off"; Errc::invalid
// naming `name` otherwise.
Result<bool> parse_bool_value(std::string_view name, std::string_view text);
// A whole decimal number that fits in 32 bits; Errc::invalid naming `name`.
Result<unsigned> parse_whole_value(std::string_view name, std::string_view text);
// A decimal number of seconds, 0 or more; Errc::invalid naming `name`.
Result<double> parse_seconds_value(std::string_view name, std::string_view text);

// The text of one value of each type an option has, for the option `spec`
// (its name and, for choices, its value_name "a|b|c" go into the error).
// `out` is unchanged on an error.
Status parse_value(const OptionSpec& spec, std::string_view text, bool& out);
Status parse_value(const OptionSpec& spec, std::string_view text, unsigned& out);              // whole number
Status parse_value(const OptionSpec& spec, std::string_view text, std::uint64_t& out);         // size: 4096, 4K, 4M
Status parse_value(const OptionSpec& spec, std::string_view text, std::chrono::seconds& out);  // whole seconds
Status parse_value(const OptionSpec& spec, std::string_view text, CacheMode& out);
Status parse_value(const OptionSpec& spec, std::string_view text, PromotePolicy& out);
Status parse_value(const OptionSpec& spec, std::string_view text, double& out);  // seconds, 0 or more
Status parse_value(const OptionSpec& spec, std::string_view text, Replacement& out);
Status parse_value(const OptionSpec& spec, std::string_view text, IdentityOption& out);
Status parse_value(const OptionSpec& spec, std::string_view text, std::string& out);  // not empty

// Values as the knobs read back: decimal numbers, "1"/"0", names.
std::string format_value(bool value);
std::string format_value(unsigned value);
std::string format_value(std::uint64_t value);
std::string format_value(std::chrono::seconds value);
std::string format_value(double value);
std::string format_value(CacheMode value);
std::string format_value(PromotePolicy value);

}  // namespace bcl
