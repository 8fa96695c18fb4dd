// Option values as people type them, shared by the mount options
// (writeback_percent=10, discard=no) and by the settable extended
// attributes of the mount root (setfattr -n user.bcachefs_lite.
// writeback_percent -v 10), so that both accept, and show, the same text.
//
// The writeback tunables (cache/writeback_tunables.h) are named as bcache's
// sysfs files, and each has a parser and a formatter here. A parser checks
// only the syntax and stores the value; the ranges, and that
// cutoff_writeback_sync is at least cutoff_writeback, are checked by
// validate() once every value is known (a mount may give cutoff_writeback=80
// before cutoff_writeback_sync=90).
//
// Thread safety: pure functions; the table is immutable.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "bcachefs_lite/cache/writeback_tunables.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// "", "1", "true", "yes", "on" and "0", "false", "no", "off"; Errc::invalid
// naming `name` otherwise.
Result<bool> parse_bool_value(std::string_view name, std::string_view text);
// A whole decimal number that fits in 32 bits; Errc::invalid naming `name`.
Result<unsigned> parse_whole_value(std::string_view name, std::string_view text);

// One parser per tunable: Errc::invalid, one line naming the tunable, on
// text that is not a value of its kind; `tunables` is unchanged then.
Status parse_writeback_percent(WritebackTunables& tunables, std::string_view text);      // whole percent
Status parse_writeback_delay(WritebackTunables& tunables, std::string_view text);        // whole seconds
Status parse_writeback_rate_minimum(WritebackTunables& tunables, std::string_view text); // bytes/s, 4K
Status parse_writeback_running(WritebackTunables& tunables, std::string_view text);      // a boolean
Status parse_cutoff_writeback(WritebackTunables& tunables, std::string_view text);       // whole percent
Status parse_cutoff_writeback_sync(WritebackTunables& tunables, std::string_view text);  // whole percent

struct TunableText {
    std::string_view name;
    Status (*parse)(WritebackTunables& tunables, std::string_view text);
    // Decimal text; writeback_running is "1" or "0".
    std::string (*format)(const WritebackTunables& tunables);
};

// Every tunable, in the order the documentation lists them.
std::span<const TunableText> writeback_tunable_texts();
// The tunable named `name` (without any prefix), or null.
const TunableText* find_writeback_tunable(std::string_view name);

}  // namespace bcl
