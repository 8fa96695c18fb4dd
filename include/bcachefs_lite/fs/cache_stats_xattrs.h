// CacheStatsXattrs: the cache engine's statistics as extended attributes.
// On the mount's root directory: user.bcachefs_lite.<name> for every
// statistic of stat_names() (cache/stats.h), and user.bcachefs_lite.stats
// with all of them as name=value lines. On every other inode:
// user.bcachefs_lite.cached_bytes, the bytes of the file held in the
// cache. Values are decimal text. All are read-only for everyone: set and
// remove of a known name fail with EPERM; an unknown name under the prefix
// gives ENODATA on get and remove, EINVAL on set. Nothing reaches the
// backing files.
//
// Thread safety: stateless; reads the CacheSet's thread-safe accessors.
#pragma once

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/fs/stats_xattrs.h"

namespace bcl {

class CacheStatsXattrs final : public StatsXattrs {
public:
    // `cache` must outlive this.
    explicit CacheStatsXattrs(CacheSet& cache) : cache_(cache) {}

    std::vector<std::string> list(const FileKey& key, bool is_root) override;
    Result<std::string> get(const FileKey& key, bool is_root, std::string_view name) override;
    Status set(const FileKey& key, bool is_root, std::string_view name, std::string_view value) override;
    Status remove(const FileKey& key, bool is_root, std::string_view name) override;

private:
    CacheSet& cache_;
};

}  // namespace bcl
