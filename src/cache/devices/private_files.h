// Private cache files: a cache device or file holds the cached data of every
// file, and the index names them with their sizes and extents, so users
// other than the daemon's must not read or write either. These checks
// refuse, in one line that says how to fix it, what others could reach:
//   - a cache file that is not the daemon user's own, or that its group or
//     other users may read or write (rw bits in 0066);
//   - a block device that every user may read or write (0006); its group
//     (disk, on Debian) may read every disk anyway;
//   - an index directory that is not the daemon user's own, or that its
//     group or other users may enter or list (0077).
// CacheSetOptions::require_private_files turns them on; the daemon does
// unless mounted with allow_insecure_cache.
//
// Thread safety: pure functions of the file system's state.
#pragma once

#include <string>

#include "bcachefs_lite/util/error.h"

namespace bcl {

// Checks the cache device or file at `path`; ok when it does not exist
// (opening it says why).
[[nodiscard]] Status check_private_cache(const std::string& path);

// Checks the index directory `dir`; ok when it does not exist.
[[nodiscard]] Status check_private_index(const std::string& dir);

}  // namespace bcl
