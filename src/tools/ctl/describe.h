// How bcachefs-lite-ctl shows a superblock: text for people, one JSON
// object for scripts. Both carry the same fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bcachefs_lite/device/superblock.h"
#include "json.h"  // json_string, for the verbs that print JSON

namespace bcl::ctl {

// Seconds since the epoch as ISO 8601 in UTC ("2024-05-01T12:00:00Z").
std::string iso_time(std::uint64_t seconds);

// "name:  value" lines, newline-terminated.
std::string describe_text(const std::string& device, const Superblock& sb);
// One line of JSON, newline-terminated.
std::string describe_json(const std::string& device, const Superblock& sb);

}  // namespace bcl::ctl
