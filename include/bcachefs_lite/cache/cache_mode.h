// Cache modes (bcache's cache_mode): how writes reach the backing files.
//
//   writethrough  written to the backing file, then the cached range is
//                 invalidated; reads are cached. Nothing in the cache is
//                 newer than the backing file.
//   writeback     written to the cache device as dirty extents and written
//                 back later; the backing directory belongs to the cache
//                 while mounted.
//   writearound   written to the backing file, the cached range invalidated;
//                 reads are cached as usual (writes never fill the cache).
//   none          nothing new enters the cache: reads and writes go to the
//                 backing files. Data already cached (dirty data left by
//                 writeback above all) is still read from the cache until
//                 it is written back.
//
// Thread safety: constants and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace bcl {

enum class CacheMode : std::uint8_t { writethrough, writeback, writearound, none };

// "writethrough", "writeback", "writearound", "none".
const char* cache_mode_name(CacheMode mode);
// The mode named exactly so, or nullopt.
std::optional<CacheMode> parse_cache_mode(std::string_view name);

}  // namespace bcl
