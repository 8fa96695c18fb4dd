// CacheSet: the cache engine of one mount. It owns the cache device(s),
// the index, the bucket allocators with their open buckets, the background
// executor (one io_context, two threads: background.h) and the per-file
// coherency state, and serves reads and writes of backing files given as
// open descriptors, in the cache mode of the moment (cache_mode.h). It
// knows nothing of FUSE: the fs layer's CachedFileData maps its FileData
// seam onto these calls.
//
// A facade over its parts, each a class over the state they share (one
// CacheCore, src/cache/core/core.h): the data paths (io/data_path.h),
// admission (io/admission.h), writeback (writeback/writeback.h), GC
// and moving GC (gc/scheduler.h), pinning (pins.h). Open and close
// assemble and take them apart (src/cache/assembly/parts.h says how).
//
// Thread safety: every public function may be called from any thread
// concurrently, except open(), close() and the destructor, and
// run_background_until_idle()/run_gc() in manual mode, which belong to the
// owner's thread. Lock order: a CachedFile's write_lock, then FileTable's
// mutex, then a CachedFile's mutex, then the index's and the allocator's
// internal locks.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/cache/backing_link.h"
#include "bcachefs_lite/cache/backing_source.h"
#include "bcachefs_lite/cache/cache_mode.h"
#include "bcachefs_lite/cache/cache_set_options.h"
#include "bcachefs_lite/cache/cache_state.h"
#include "bcachefs_lite/cache/cached_file.h"
#include "bcachefs_lite/cache/coherency_window.h"
#include "bcachefs_lite/cache/consistency.h"
#include "bcachefs_lite/cache/device_status.h"
#include "bcachefs_lite/cache/pins.h"
#include "bcachefs_lite/cache/priority_stats.h"
#include "bcachefs_lite/cache/stats.h"
#include "bcachefs_lite/cache/tunables.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"

namespace bcl {

class Admission;
struct CacheCore;
class CacheSetParts;
class GcScheduler;
class Writeback;

class CacheSet {
public:
    // Opens (or creates, see create_size) the cache device and its index,
    // loads bucket gens, runs the first GC pass, fills the freelists and
    // starts the background threads (unless manual_background). Every error
    // is one line (Errc::foreign for an index of another cache or a device
    // that is not a cache); a failed open leaves nothing behind that it
    // created (a cache file it made, an index directory it made).
    static Result<std::unique_ptr<CacheSet>> open(CacheSetOptions options, Logger& log);
    // Closes (see close()) if that was not done; errors are logged.
    ~CacheSet();
    CacheSet(const CacheSet&) = delete;
    CacheSet& operator=(const CacheSet&) = delete;

    // Stops background work, flushes the cache device, writes every
    // bucket's gen and prio (so the LRU order survives a restart), syncs
    // the index and sets its clean flag. Idempotent; after it only destruction is valid.
    Status close();

    // ---- files ----
    // The shared state of the file open as `fd` (statx'ed as `stx`, with
    // STATX_BTIME when the file system has it): a new file id when the file
    // is new or changed behind the cache's back. Pair with release_file().
    Result<std::shared_ptr<CachedFile>> open_file(int fd, const struct statx& stx);
    // open_file() without the descriptor, for an open answered within the
    // coherency window: `stx` is the file as a check at `checked_ns`
    // (CoherencyWindow::now_ns) found it. Null, with nothing registered,
    // when that check is outside the window or the record no longer
    // matches `stx` (the caller opens the file and calls open_file()).
    Result<std::shared_ptr<CachedFile>> open_checked_file(const struct statx& stx, std::int64_t checked_ns);
    // The same without the window, while backing_link() is down; the file
    // is not marked checked, so its reads serve only what the cache holds.
    Result<std::shared_ptr<CachedFile>> open_offline_file(const struct statx& stx);
    void release_file(const std::shared_ptr<CachedFile>& file);

    // Reads up to out.size() bytes at offset of the file open as fd; fewer
    // at end of file. Never fails because of the cache device. Revalidates
    // the file first, so a descriptor kept open across a change made behind
    // the cache's back never reads the old contents from the cache.
    // A read that continues a sequential run past sequential_cutoff still
    // serves what the cache holds but inserts nothing (sequential.h).
    // Within the coherency window (actimeo) after the file's last check, a
    // read of cached data asks `backing` for nothing. When `backing` does not
    // answer (BackingLink::unreachable), a range held whole is still served.
    Result<std::size_t> read(CachedFile& file, BackingSource& backing, std::uint64_t offset, std::span<std::byte> out,
                             ReadFlags flags = {});
    Result<std::size_t> read(CachedFile& file, int fd, std::uint64_t offset, std::span<std::byte> out,
                             ReadFlags flags = {}) {
        OpenBackingFd backing(fd);
        return read(file, backing, offset, out, flags);
    }
    // The coherency window of reads (Tunables::actimeo).
    const CoherencyWindow& coherency_window() const;
    BackingLink& backing_link();

    // For writers that change the backing file themselves
    // (copy_file_range): runs `write` under the file's write_lock, after
    // checking the file against its record and writing back the dirty bytes
    // of the blocks [start, end) covers only in part; then drops [start, end)
    // from the cache (end UINT64_MAX: to end of file), whatever `write`
    // returned, and returns it.
    Result<std::size_t> write_backing(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end,
                                      const std::function<Result<std::size_t>()>& write);
    // Writes all of data at offset (at end of file with flags.append) as
    // the cache mode says: to the backing file with the cached range
    // invalidated (writethrough, writearound, none), or to the cache as
    // dirty data (writeback; the backing file only grows to the new size
    // and takes the new mtime). Writeback falls back to the backing file
    // when the dirty data is over the cutoffs, when no bucket is free (a
    // write never waits for one) or when the file cannot be written back
    // later (not on the backing root's file system). Returns the bytes
    // written; the end offset is where an O_APPEND write landed.
    Result<std::size_t> write(CachedFile& file, int fd, std::uint64_t offset, std::span<const std::byte> data,
                              WriteFlags flags = {});
    // fsync(2)/fdatasync(2) of the file: the backing file is synced; if the
    // file has dirty data, the cache device is flushed and the index synced
    // as well, so that everything written before returns durable
    // (invariant 3).
    Status fsync(CachedFile& file, int fd, bool datasync);
    // Writes the dirty data of [start, end) of the file back to the backing
    // file now, and marks it clean: for callers that are about to use the
    // backing file's bytes directly (copy_file_range, SEEK_DATA).
    Status write_back_range(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end);
    // ftruncate (or, for an O_PATH fd, truncate of its /proc path), then
    // trims the cached blocks from the new end on. file may be null when
    // the file is not open through the mount.
    Status truncate(CachedFile* file, int fd, std::uint64_t size);
    // fallocate(2) on the backing file, then invalidates what it changed:
    // the range for PUNCH_HOLE and ZERO_RANGE, everything from offset on for
    // COLLAPSE_RANGE and INSERT_RANGE.
    Status fallocate(CachedFile& file, int fd, int mode, std::uint64_t offset, std::uint64_t length);
    // A name of (dev, ino) was removed and links_left remain: at 0 its
    // extents are dropped (one range delete) and its record deleted. A
    // file still open keeps its data (POSIX): its dirty data is first
    // written into its backing inode, which its handles keep alive and read
    // and write from then on; a crash before that drops it, since its
    // handle then names no file.
    void unlinked(std::uint64_t dev, std::uint64_t ino, std::uint64_t links_left);

    // A change of a file's metadata alone (rename, link, chmod, chown,
    // utimens) was made through the mount; `before` and `after` are the
    // file's statx (with STATX_BTIME where the file system has it) taken
    // just before and just after it. The file's record (in memory and in the
    // index) takes the after mtime and ctime, so the change does not make
    // the cached data look changed behind the cache's back — but only if the
    // record still matches `before` (identity, size, mtime, ctime) and the
    // size is unchanged: a change behind the cache's back made before the
    // operation is still detected at the next open (invariant 5). True when
    // the record was refreshed.
    Result<bool> metadata_changed(const struct statx& before, const struct statx& after);

    // Bytes of the file (dev, ino) held in extents that reads are served
    // from (those in buckets waiting for reuse included), up to its size.
    Result<std::uint64_t> cached_bytes(std::uint64_t dev, std::uint64_t ino);
    // Bytes of the file (dev, ino) held as dirty data.
    Result<std::uint64_t> dirty_bytes(std::uint64_t dev, std::uint64_t ino);

    // ---- every tunable at once (set_tunables.cc) ----
    Tunables tunables() const;
    // Errc::invalid (nothing changed) for values out of range; otherwise
    // applies each group that differs, through the setter of the part that
    // keeps it, and returns the first refusal (set_mode's).
    Status set_tunables(const Tunables& tunables);

    // ---- mode and writeback ----
    CacheMode mode() const;
    // Errc::unsupported for writeback when the backing directory cannot
    // give file handles (see backing_root_fd). Leaving writeback keeps the
    // dirty data; it is written back as before.
    Status set_mode(CacheMode mode);
    WritebackStatus writeback_status() const;
    // Writes back everything dirty at full speed, ignoring the delay, the
    // rate and writeback_running, until nothing is dirty; returns at once.
    // Watch writeback_status().dirty reach 0.
    void start_flush();
    // Writes back everything dirty now, on the calling thread, and returns
    // when nothing is.
    Status write_back_all();

    // ---- stats, GC, background ----
    // The counters, and the bucket figures as the allocator knows them now
    // (one walk over the bucket table; during a GC pass, the figures of the
    // last pass).
    CacheStats stats() const;
    // The buckets by mark and by age (priority_stats.h); Errc::again while
    // a GC pass runs.
    Result<PriorityStats> priority_stats() const;
    // Each device, in dev_idx order (device_status.h); Errc::again while a
    // GC pass runs.
    Result<std::vector<DeviceStatus>> device_status() const;
    // Runs a whole GC pass now and returns its status: in manual mode on
    // the calling thread, else on the strand while the caller waits.
    Status run_gc();
    // Manual mode: runs background handlers until none is ready; returns
    // how many ran (0 when the background threads run them).
    std::size_t run_background_until_idle();
    Result<ConsistencyReport> check_consistency() const;
    // In service, or out of it after device errors (cache_state.h).
    CacheState state() const;

    // ---- parts, for tests and tools ----
    const Superblock& superblock() const;
    CacheDevice& device(unsigned dev = 0);
    Index& index();
    AllocSet& alloc();
    // Which I/O the cache takes (promotion, sequential bypass,
    // congestion), pinned files and directories (pins.h), writeback
    // (writeback/writeback.h) and GC (gc/scheduler.h), with their tunables.
    Admission& admission();
    Pins& pins();
    Writeback& writeback();
    GcScheduler& gc();
    // Whether this open took the GC marks from the snapshot of the last
    // clean close instead of walking every extent first (gc/snapshot.h).
    bool opened_from_gc_snapshot() const;
    // Whether the index's clean flag was set when this set was opened.
    bool opened_clean() const;
    // Threads a GC pass walks the index with (CacheSetOptions::gc_threads).
    unsigned gc_threads() const;

private:
    explicit CacheSet(std::unique_ptr<CacheSetParts> parts);

    // The core and the parts, and how they are made and taken apart
    // (src/cache/assembly/parts.h).
    std::unique_ptr<CacheSetParts> parts_;
    CacheCore& core_;  // *parts_->core
};

}  // namespace bcl
