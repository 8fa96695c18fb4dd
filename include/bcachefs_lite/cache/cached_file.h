// CachedFile: the cache engine's state of one backing file, shared by every
// open of it (and by truncate/unlink through the mount while it is open).
// CacheSet hands it out from open_file() and is the only one that changes
// it; callers keep the shared_ptr as their handle's state and pass it back.
//
// Coherency: `record` is what the index stores for the file — its cache
// file id and the size, mtime and ctime the cached data belongs to. A file
// found changed behind the cache's back gets a new file id (ids are never
// reused) and its old extents are dropped before any read returns.
//
// Thread safety: `write_lock` serialises every change of the file's data
// that goes through the engine (writes, truncate, fallocate, writing back
// its dirty data, dropping it at unlink) and guards rw_fd and dirty_record;
// it is held across backing-file I/O and taken before `mutex`. Readers never
// take it. `mutex` guards `record` and `bypass`, and is held
// around every index mutation of the file's extents (writes invalidating,
// miss inserts checking write_seq), which is what makes invariant 4 hold.
// write_seq is atomic: readers sample it without the lock before reading
// the backing file; writers bump it with the lock held. `opens` is guarded
// by the FileTable's mutex.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>

#include <sys/stat.h>

#include "bcachefs_lite/cache/coherency_window.h"
#include "bcachefs_lite/index/dirty_file_format.h"
#include "bcachefs_lite/index/file_format.h"

namespace bcl {

struct CachedFile {
    explicit CachedFile(const FileIdentity& id) : identity(id) {}
    ~CachedFile() {
        if (rw_fd >= 0) ::close(rw_fd);
    }
    CachedFile(const CachedFile&) = delete;
    CachedFile& operator=(const CachedFile&) = delete;

    // (dev, ino, birth time) of the backing file; fixed.
    const FileIdentity identity;

    std::mutex write_lock;
    // Guarded by write_lock: a read-write descriptor of the backing file
    // that the engine opened itself, for reading around unaligned writes and
    // for writing dirty data back whatever the caller's descriptor allows;
    // -1 until needed.
    int rw_fd = -1;
    // Guarded by write_lock: the file's dirty-file record (its file handle),
    // once a dirty write or writeback needed it.
    std::optional<DirtyFileRecord> dirty_record;

    mutable std::mutex mutex;
    // Guarded by mutex: the stored record (file id, size, mtime, ctime).
    FileRecord record;
    // Guarded by mutex: the last link is gone, or an index update of the
    // file failed: the cache is neither read nor filled for it any more.
    bool bypass = false;
    // Bumped (with mutex held) by every change of the file through the
    // mount; a miss insert is installed only if it is unchanged since the
    // backing read.
    std::atomic<std::uint64_t> write_seq{0};
    // When `record` was last found to match the backing file, or made to
    // match it after a change through the mount (CoherencyWindow::now_ns);
    // 0: not yet, or the file had more than one link then. Reads within the
    // coherency window after it trust the record without asking the
    // backing file.
    std::atomic<std::int64_t> checked_ns{0};
    // Guarded by the FileTable's mutex: opens sharing this state.
    int opens = 0;
};

// Notes that file.record matches the backing file as `stx` shows it now.
// A file with other links is never trusted without a check: a change
// through another name (a name the mount does not hold, or, under
// identity=path, a name that is another file to the cache) need not reach
// this state.
inline void mark_checked(CachedFile& file, const struct statx& stx) {
    file.checked_ns.store(stx.stx_nlink == 1 ? CoherencyWindow::now_ns() : 0, std::memory_order_release);
}

}  // namespace bcl
