// The frame every index value shares: a version byte first, the CRC-32C of
// everything before it last (see index_format.h).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bcachefs_lite/util/error.h"

namespace bcl::index_detail {

// Appends the checksum of `out` to it.
void seal_value(std::string& out);

// Checks size, checksum and version of a sealed value of `what` and
// returns a pointer to its payload (after the version byte).
Result<const char*> open_value(std::string_view bytes, std::size_t expected_size, std::uint8_t expected_version,
                               const char* what);

}  // namespace bcl::index_detail
