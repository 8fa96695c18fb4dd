// Replacement: how the allocator picks cached buckets to reuse (bcache's
// cache_replacement). One enum for the superblock that records it (its
// values are on disk), the allocator that applies it and the mount option
// that overrides it, so it lives below all three.
//
// Thread safety: a value and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace bcl {

enum class Replacement : std::uint8_t { lru = 0, fifo = 1, random = 2 };

// "lru", "fifo", "random"; "unknown" for a value outside the enum (a
// superblock from elsewhere).
std::string_view replacement_name(Replacement r);
std::optional<Replacement> parse_replacement(std::string_view name);

}  // namespace bcl
