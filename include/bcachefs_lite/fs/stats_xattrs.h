// StatsXattrs: the handler of the reserved extended-attribute namespace
// "user.bcachefs_lite." (kStatsXattrPrefix). Requests for names under it never
// reach the backing files: getxattr/setxattr/removexattr of such a name go
// to this handler, listxattr appends the names it lists, and names under the
// prefix that a backing file happens to carry are hidden. The cache engine
// fills it with statistics and control knobs (CacheStatsXattrs);
// NoStatsXattrs answers for a mount whose cache is not open (mode=none).
//
// Thread safety: called from libfuse's worker threads concurrently;
// implementations must be thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/fs/file_data.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

inline constexpr std::string_view kStatsXattrPrefix = "user.bcachefs_lite.";

inline bool is_stats_xattr(std::string_view name) { return name.starts_with(kStatsXattrPrefix); }

// Names (after the prefix) that every mount root answers, also with
// mode=none, and that tools rely on: the cache mode, as text ("writeback");
// the trigger that starts writing back everything dirty (set it to "1");
// the bytes of dirty data in the cache. A root with a cache open also
// answers its state (running, failing, passthrough), as text.
inline constexpr std::string_view kCacheModeXattr = "cache_mode";
inline constexpr std::string_view kFlushXattr = "flush";
inline constexpr std::string_view kDirtyDataXattr = "dirty_data";
inline constexpr std::string_view kCacheStateXattr = "state";

class StatsXattrs {
public:
    virtual ~StatsXattrs() = default;

    // Full names (with the prefix) offered on this inode; `is_root` is true
    // for the mount's root directory.
    virtual std::vector<std::string> list(const FileKey& key, bool is_root) = 0;
    // The value of `name`; an error with sys_errno ENODATA when there is
    // none. `fd` is the inode's O_PATH descriptor of the backing file;
    // `key` is what the engine knows it by (file_data.h).
    virtual Result<std::string> get(const FileKey& key, int fd, bool is_root, std::string_view name) = 0;
    // Sets `name` (e.g. a control knob) for a caller running as
    // `caller_uid`; ENOTSUP when not settable. `fd` as for get().
    virtual Status set(const FileKey& key, int fd, bool is_root, std::string_view name, std::string_view value,
                       uid_t caller_uid) = 0;
    // Removes `name`; ENOTSUP when not removable.
    virtual Status remove(const FileKey& key, bool is_root, std::string_view name) = 0;
    // A file, directory, node or symlink was created through the mount in
    // the directory `parent`, open as parent_fd; child_fd is the O_PATH
    // descriptor of `child`. For what the new inode inherits from its
    // directory (a pin). Default: nothing.
    virtual void created(const FileKey& parent, int parent_fd, const FileKey& child, int child_fd) {
        (void)parent;
        (void)parent_fd;
        (void)child;
        (void)child_fd;
    }
};

// The namespace of a mount whose cache is not open (mode=none at mount):
// no statistics and nothing to control. The root offers one name,
// cache_mode, reading "none", so that tools still recognise the mount; get
// of anything else answers ENODATA; set and remove answer ENOTSUP for every
// name, cache_mode and flush included, since the mode cannot change without
// the cache (a remount with another mode opens it).
class NoStatsXattrs final : public StatsXattrs {
public:
    std::vector<std::string> list(const FileKey& key, bool is_root) override;
    Result<std::string> get(const FileKey& key, int fd, bool is_root, std::string_view name) override;
    Status set(const FileKey& key, int fd, bool is_root, std::string_view name, std::string_view value,
               uid_t caller_uid) override;
    Status remove(const FileKey& key, bool is_root, std::string_view name) override;
};

}  // namespace bcl
