// StatsXattrs: the handler of the reserved extended-attribute namespace
// "user.bcachefs_lite." (kStatsXattrPrefix). Requests for names under it never
// reach the backing files: getxattr/setxattr/removexattr of such a name go
// to this handler, listxattr appends the names it lists, and names under the
// prefix that a backing file happens to carry are hidden. The cache engine
// fills it with statistics; NoStatsXattrs answers for a mount without them.
//
// Thread safety: called from libfuse's worker threads concurrently;
// implementations must be thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/fs/file_data.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

inline constexpr std::string_view kStatsXattrPrefix = "user.bcachefs_lite.";

inline bool is_stats_xattr(std::string_view name) { return name.starts_with(kStatsXattrPrefix); }

class StatsXattrs {
public:
    virtual ~StatsXattrs() = default;

    // Full names (with the prefix) offered on this inode; `is_root` is true
    // for the mount's root directory.
    virtual std::vector<std::string> list(const FileKey& key, bool is_root) = 0;
    // The value of `name`; an error with sys_errno ENODATA when there is none.
    virtual Result<std::string> get(const FileKey& key, bool is_root, std::string_view name) = 0;
    // Sets `name` (e.g. a control knob); ENOTSUP when not settable.
    virtual Status set(const FileKey& key, bool is_root, std::string_view name, std::string_view value) = 0;
    // Removes `name`; ENOTSUP when not removable.
    virtual Status remove(const FileKey& key, bool is_root, std::string_view name) = 0;
};

// Offers nothing: get answers ENODATA, set and remove ENOTSUP.
class NoStatsXattrs final : public StatsXattrs {
public:
    std::vector<std::string> list(const FileKey& key, bool is_root) override;
    Result<std::string> get(const FileKey& key, bool is_root, std::string_view name) override;
    Status set(const FileKey& key, bool is_root, std::string_view name, std::string_view value) override;
    Status remove(const FileKey& key, bool is_root, std::string_view name) override;
};

}  // namespace bcl
