// The cache device's error tunables (device/io_error_counter.h) as people
// type them, shared by the mount options (io_error_limit=8) and the
// settable extended attributes of the mount root (setfattr -n
// user.bcachefs_lite.io_error_halflife -v 8800), as promotion_values.h does
// for the promotion tunables. Both are whole numbers that fit in 32 bits;
// io_error_halflife is kept rounded down to a multiple of 88 (bcache's
// rule), and shows so when read back.
//
// Thread safety: pure functions; the table is immutable.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "bcachefs_lite/device/io_error_counter.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// Errc::invalid, one line naming the tunable, on text that is not a whole
// number; `tunables` is unchanged then.
Status parse_io_error_limit(IoErrorTunables& tunables, std::string_view text);
Status parse_io_error_halflife(IoErrorTunables& tunables, std::string_view text);

struct IoErrorTunableText {
    std::string_view name;
    Status (*parse)(IoErrorTunables& tunables, std::string_view text);
    std::string (*format)(const IoErrorTunables& tunables);  // decimal text
};

// Both tunables, in the order the documentation lists them.
std::span<const IoErrorTunableText> io_error_tunable_texts();
// The tunable named `name` (without any prefix), or null.
const IoErrorTunableText* find_io_error_tunable(std::string_view name);

}  // namespace bcl
