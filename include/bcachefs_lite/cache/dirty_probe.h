// Whether a cache holds dirty data, found without opening it as a cache:
// for a mount that will not use the cache (mode=none) and must not serve
// the backing files' older bytes in place of data only the cache holds.
//
// Thread safety: a pure function over files it only reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bcachefs_lite/util/error.h"

namespace bcl {

// The number of files with dirty data in the cache at cache_path, whose
// index is in index_dir (default: where CacheSet puts it). Reads the
// superblock and opens the index read-only; changes nothing. 0 when there
// is no cache or no index there.
Result<std::uint64_t> count_dirty_files(const std::string& cache_path, const std::optional<std::string>& index_dir);

}  // namespace bcl
