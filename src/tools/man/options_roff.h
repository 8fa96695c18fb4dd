// The MOUNT OPTIONS section of bcachefs-lite(8), rendered from the options
// table (fs/mount_options.h) at build time, so that the man page lists
// every option with its value, its default and its text, and an option is
// added to it by its row alone.
//
// Thread safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "bcachefs_lite/fs/mount_options.h"

namespace bcl {

// The markup of OptionSpec::man as roff: *bold*, {italic}; '-' and '\'
// escaped; a line never starts with a control character.
std::string roff_text(std::string_view markup);

// ".SH MOUNT OPTIONS" and everything under it: a ".SS" group per section,
// a tagged paragraph per option (the ignored ones in one paragraph).
std::string render_mount_options(std::span<const OptionSpec> options, std::span<const OptionSection> sections);

}  // namespace bcl
