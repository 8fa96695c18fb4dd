#include "bcachefs_lite/cache/cache_mode.h"

namespace bcl {

namespace {
constexpr CacheMode kModes[] = {CacheMode::writethrough, CacheMode::writeback, CacheMode::writearound, CacheMode::none};
}  // namespace

const char* cache_mode_name(CacheMode mode) {
    switch (mode) {
    case CacheMode::writethrough: return "writethrough";
    case CacheMode::writeback: return "writeback";
    case CacheMode::writearound: return "writearound";
    case CacheMode::none: return "none";
    }
    return "writethrough";
}

std::optional<CacheMode> parse_cache_mode(std::string_view name) {
    for (CacheMode m : kModes)
        if (name == cache_mode_name(m)) return m;
    return std::nullopt;
}

}  // namespace bcl
