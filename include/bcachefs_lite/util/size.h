// Sizes as people type them: "4096", "512k", "512K", "8M", "8MiB", "1G",
// "2T" (binary multiples; a trailing "B" or "iB" is accepted).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bcachefs_lite/util/error.h"

namespace bcl {

// Errc::invalid with a message naming `what` on anything but a whole,
// non-negative size that fits in 64 bits.
Result<std::uint64_t> parse_size(std::string_view text, std::string_view what = "size");

// The largest exact binary unit: 524288 -> "512KiB", 1000 -> "1000B".
std::string format_size(std::uint64_t bytes);
// Rounded for people: 1536 -> "1.5KiB".
std::string format_size_approx(std::uint64_t bytes);

}  // namespace bcl
