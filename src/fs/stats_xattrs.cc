#include "bcachefs_lite/fs/stats_xattrs.h"

#include <cerrno>

#include "os_error.h"

namespace bcl {

namespace {

bool is_cache_mode(std::string_view name) {
    return name.size() == kStatsXattrPrefix.size() + kCacheModeXattr.size() && is_stats_xattr(name) &&
           name.substr(kStatsXattrPrefix.size()) == kCacheModeXattr;
}

}  // namespace

std::vector<std::string> NoStatsXattrs::list(const FileKey&, bool is_root) {
    if (!is_root) return {};
    return {std::string(kStatsXattrPrefix) + std::string(kCacheModeXattr)};
}

Result<std::string> NoStatsXattrs::get(const FileKey&, int, bool is_root, std::string_view name) {
    if (is_root && is_cache_mode(name)) return std::string("none");
    return os_error(ENODATA);
}

Status NoStatsXattrs::set(const FileKey&, int, bool, std::string_view, std::string_view, uid_t) {
    return os_error(ENOTSUP);
}

Status NoStatsXattrs::remove(const FileKey&, bool, std::string_view) { return os_error(ENOTSUP); }

}  // namespace bcl
