// 128-bit UUIDs for caches (Boost.Uuid generates and formats them).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "bcachefs_lite/util/error.h"

namespace bcl {

using Uuid = std::array<std::uint8_t, 16>;

Uuid random_uuid();
// "3f2a...-...": lower-case, 36 characters.
std::string uuid_to_string(const Uuid& uuid);
Result<Uuid> parse_uuid(std::string_view text);
bool uuid_is_nil(const Uuid& uuid);

}  // namespace bcl
