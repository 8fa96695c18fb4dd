// CacheStatsXattrs: the cache engine's statistics and control knobs as
// extended attributes (user.bcachefs_lite.<name>). Values are decimal text
// unless said otherwise; nothing reaches the backing files.
//
// On the mount's root directory:
//   - every statistic of stat_names() (cache/stats.h), and `stats` with all
//     of them as name=value lines: read-only for everyone;
//   - `state`: running, failing or passthrough (cache/cache_state.h), as
//     text and so not in `stats`, whose values are all numbers; read-only;
//   - `writeback_rate_debug`: the writeback rate controller's state, one
//     "name: value unit" line each for rate, dirty, target, proportional,
//     integral, running and flushing (bcache's file of that name);
//     read-only;
//   - the knobs: every tunable of the options table (mount_options.h,
//     OptionSpec::knob_name): `cache_mode` (writethrough, writeback,
//     writearound or none), the writeback, promotion, bypass, cache device
//     error and moving GC tunables and pin_limit_percent, named as their
//     mount options: readable by everyone, settable by root (caller uid 0)
//     only, with the text the mount options take and read back as the
//     engine keeps them (sizes and times as decimal numbers, booleans as
//     1 or 0). A value that does not parse or is out of range answers
//     EINVAL and changes nothing; cache_mode=writeback on a backing
//     directory without file handles answers EOPNOTSUPP;
//   - `flush`: write-only, not listed; setting it to "1" starts writing
//     back everything dirty (CacheSet::start_flush()); any caller may, as
//     anyone may run sync(1).
//   - `pinned_bytes` (one of the statistics): the bytes of pinned data;
//   - `identity`: how the mount recognises backing files, inode or path
//     (identity.h), as text; read-only.
// On every other inode: `cached_bytes` and `dirty_bytes`, the bytes of the
// file held in the cache and those of them that are dirty; read-only;
// `pin`, 1 when the file or directory is pinned, else 0, settable by root
// only to 1 (pin) or 0 (unpin): ENOSPC past pin_limit_percent, EINVAL on
// anything but a regular file or a directory; and `pinned`, the bytes of
// the file held as pinned data (compare with its size to follow a fetch);
// read-only. What is created in a pinned directory is pinned (created()).
//
// Any other caller setting a knob, and anyone setting or removing a
// read-only name, gets EPERM; removing a knob is EPERM too. An unknown name
// under the prefix gives ENODATA on get and remove, EINVAL on set.
//
// Thread safety: the CacheSet's accessors are thread-safe; a mutex makes
// each knob's read-modify-write of the whole Tunables atomic.
#pragma once

#include <mutex>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/fs/identity.h"
#include "bcachefs_lite/fs/stats_xattrs.h"
#include "bcachefs_lite/util/log.h"

namespace bcl {

class CacheStatsXattrs final : public StatsXattrs {
public:
    // `cache` and `log` must outlive this. Changes of the knobs are logged.
    // `identity` is what the root's `identity` reads.
    CacheStatsXattrs(CacheSet& cache, Logger& log, Identity identity = Identity::inode)
        : cache_(cache), log_(log), identity_(identity) {}

    std::vector<std::string> list(const FileKey& key, bool is_root) override;
    Result<std::string> get(const FileKey& key, int fd, bool is_root, std::string_view name) override;
    Status set(const FileKey& key, int fd, bool is_root, std::string_view name, std::string_view value,
               uid_t caller_uid) override;
    Status remove(const FileKey& key, bool is_root, std::string_view name) override;
    // Pins what is created in a pinned directory.
    void created(const FileKey& parent, int parent_fd, const FileKey& child, int child_fd) override;

private:
    Status set_knob(std::string_view short_name, std::string_view value);
    Status set_pin(const FileKey& key, int fd, std::string_view value);

    CacheSet& cache_;
    Logger& log_;
    const Identity identity_;
    std::mutex tunables_mutex_;  // held across get-modify-set of the tunables
};

}  // namespace bcl
