// How bcachefs-lite-ctl shows a superblock: text for people, one JSON
// object for scripts. Both carry the same fields.
#pragma once

#include <string>

#include "bcachefs_lite/device/superblock.h"

namespace bcl::ctl {

// "name:  value" lines, newline-terminated.
std::string describe_text(const std::string& device, const Superblock& sb);
// One line of JSON, newline-terminated.
std::string describe_json(const std::string& device, const Superblock& sb);

}  // namespace bcl::ctl
