// Checks, before anything is changed, that the paths a MountOptions names can
// be mounted: SOURCE is a directory, MOUNTPOINT a directory that is not
// already one of our mounts, the cache device or file exists (or can be
// created with cache_size) and lies outside the mount, and index, when given,
// is not something other than a directory.
//
// Thread safety: reads the file system and /proc/self/mountinfo only.
#pragma once

#include <string>
#include <string_view>

#include "bcachefs_lite/fs/mount_options.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// On success, makes options.source and options.mountpoint absolute and
// canonical (the daemon later changes directory to /). Errors are one line
// naming the path and what to do.
Status check_mount_environment(MountOptions& options);

// True when /proc/self/mountinfo lists a mount of type fs_type (for example
// "fuse.bcachefs-lite") at exactly the absolute path mountpoint.
Result<bool> is_mounted_as(std::string_view mountpoint, std::string_view fs_type);

// Undoes the octal escapes (\040 for a space) of a /proc/self/mountinfo field.
std::string unescape_mountinfo_field(std::string_view field);

}  // namespace bcl
