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
//   - `cache_mode` (writethrough, writeback, writearound or none) and the
//     writeback tunables (writeback_percent, writeback_delay in seconds,
//     writeback_rate_minimum in bytes/s, writeback_running as 1 or 0,
//     cutoff_writeback, cutoff_writeback_sync) and the promotion tunables
//     (promote as always or nhit, promote_hits, promote_trigger_percent)
//     and the cache device's error tunables (io_error_limit,
//     io_error_halflife in I/Os, io_error_values.h) and the bypass
//     tunables (sequential_cutoff in bytes, congested_read_threshold_us,
//     congested_write_threshold_us, bypass_values.h) and moving GC's
//     copy_gc_enabled (1 or 0, moving_gc_values.h):
//     readable by everyone, settable by root (caller uid 0) only, with the
//     same text the mount options take (option_values.h,
//     promotion_values.h). A value that does not parse or is out
//     of range answers EINVAL and changes nothing; cache_mode=writeback on a
//     backing directory without file handles answers EOPNOTSUPP;
//   - `flush`: write-only, not listed; setting it to "1" starts writing
//     back everything dirty (CacheSet::start_flush()); any caller may, as
//     anyone may run sync(1).
//   - `pin_limit_percent`: the percent of the cache pinned data may take
//     (0 to 100; cache/cache_set.h), a knob like the tunables above;
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
// each tunable's read-modify-write of the whole WritebackTunables (or
// PromotionTunables) atomic.
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
