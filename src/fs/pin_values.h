// pin_limit_percent as people type it, shared by the mount option
// (pin_limit_percent=50) and the settable extended attribute of the mount
// root (setfattr -n user.bcachefs_lite.pin_limit_percent -v 50): a whole
// percent of the cache that pinned data may take, 0 to 100.
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

#include "bcachefs_lite/util/error.h"

namespace bcl {

inline constexpr std::string_view kPinLimitPercent = "pin_limit_percent";

// Errc::invalid, one line naming the option, on text that is not a whole
// number from 0 to 100.
Result<unsigned> parse_pin_limit_percent(std::string_view text);

}  // namespace bcl
