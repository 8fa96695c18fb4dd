#include "bcachefs_lite/fs/cache_stats_xattrs.h"

#include <algorithm>
#include <cerrno>
#include <string>

#include "os_error.h"

namespace bcl {

namespace {

constexpr std::string_view kAllStats = "stats";
constexpr std::string_view kCachedBytes = "cached_bytes";

bool is_stat_name(std::string_view short_name) {
    const auto& names = stat_names();
    return std::find(names.begin(), names.end(), short_name) != names.end();
}

// Offered on this inode.
bool offered(std::string_view short_name, bool is_root) {
    if (is_root) return short_name == kAllStats || is_stat_name(short_name);
    return short_name == kCachedBytes;
}

bool known(std::string_view short_name) {
    return short_name == kAllStats || short_name == kCachedBytes || is_stat_name(short_name);
}

std::string_view short_name_of(std::string_view name) { return name.substr(kStatsXattrPrefix.size()); }

}  // namespace

std::vector<std::string> CacheStatsXattrs::list(const FileKey&, bool is_root) {
    std::vector<std::string> out;
    const std::string prefix(kStatsXattrPrefix);
    if (is_root) {
        for (std::string_view n : stat_names()) out.push_back(prefix + std::string(n));
        out.push_back(prefix + std::string(kAllStats));
    } else {
        out.push_back(prefix + std::string(kCachedBytes));
    }
    return out;
}

Result<std::string> CacheStatsXattrs::get(const FileKey& key, bool is_root, std::string_view name) {
    const std::string_view n = short_name_of(name);
    if (!offered(n, is_root)) return os_error(ENODATA);
    if (n == kCachedBytes) {
        auto bytes = cache_.cached_bytes(key.dev, key.ino);
        if (!bytes) return os_error(EIO);
        return std::to_string(bytes.value());
    }
    const CacheStats stats = cache_.stats();
    if (n == kAllStats) return format_stats(stats);
    for (const auto& [stat, value] : stat_values(stats))
        if (stat == n) return std::to_string(value);
    return os_error(ENODATA);
}

Status CacheStatsXattrs::set(const FileKey&, bool, std::string_view name, std::string_view) {
    return os_error(known(short_name_of(name)) ? EPERM : EINVAL);
}

Status CacheStatsXattrs::remove(const FileKey&, bool, std::string_view name) {
    return os_error(known(short_name_of(name)) ? EPERM : ENODATA);
}

}  // namespace bcl
