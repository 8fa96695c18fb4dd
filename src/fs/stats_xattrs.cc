#include "bcachefs_lite/fs/stats_xattrs.h"

#include <cerrno>

#include "os_error.h"

namespace bcl {

std::vector<std::string> NoStatsXattrs::list(const FileKey&, bool) { return {}; }

Result<std::string> NoStatsXattrs::get(const FileKey&, bool, std::string_view) { return os_error(ENODATA); }

Status NoStatsXattrs::set(const FileKey&, bool, std::string_view, std::string_view) {
    return os_error(ENOTSUP);
}

Status NoStatsXattrs::remove(const FileKey&, bool, std::string_view) { return os_error(ENOTSUP); }

}  // namespace bcl
