// FileTable: the CachedFile of every backing file open through the cache,
// keyed by identity, and the coherency check that decides whether a file's
// cached data may still be used (FileRecord::matches on identity, size,
// mtime and ctime). A file that is new or changed gets a new file id; the
// old id's extents are dropped with one range delete, in the same index
// batch that stores the new record. A changed file that holds dirty data
// keeps its id and its dirty extents (they are newer than anything the
// backing file can hold: in writeback the backing directory belongs to the
// cache) and loses only its clean ones.
//
// Thread safety: every function may be called from any thread. mutex_
// guards files_ and every CachedFile::opens; it is taken before a
// CachedFile's mutex, never after.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "bcachefs_lite/cache/cached_file.h"
#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"

namespace bcl {

// The identity statx reports (btime 0 when the file system has none).
FileIdentity identity_of(const struct statx& stx);

class FileTable {
public:
    // pinned_dropped, when given, is called (with locks held: it must only
    // post work) after the extents of a pinned file were dropped with a
    // range delete, which reports nothing of what it deleted: the cache set
    // asks for a GC pass to count its pinned bytes again.
    FileTable(Index& index, Logger& log, std::function<void()> pinned_dropped = {})
        : index_(index), log_(log), pinned_dropped_(std::move(pinned_dropped)) {}

    // Registers an open of the file stx describes and checks it against its
    // record, renewing the file id when it changed. `fd`, when given, is the
    // file's descriptor: see check_coherent_locked().
    Result<std::shared_ptr<CachedFile>> open(const struct statx& stx, int fd = -1);
    // open() for a file checked at `checked_ns` as stx shows it, without
    // a new check: registers the open only if the file has one link and
    // its record still matches stx (no renewal); null otherwise. A state
    // opened anew takes checked_ns as the time of its last check.
    Result<std::shared_ptr<CachedFile>> open_if_current(const struct statx& stx, std::int64_t checked_ns);
    void release(const std::shared_ptr<CachedFile>& file);
    // Opens sharing `file`'s state (handles through the mount, and the
    // engine's own acquire()s).
    int opens(const CachedFile& file) const;
    // The open file (dev, ino), or null.
    std::shared_ptr<CachedFile> find(std::uint64_t dev, std::uint64_t ino) const;
    // The state of (dev, ino) registered as one more open, as open() does but
    // from the stored record instead of a statx (no coherency check): for
    // work on a file that may not be open (unlink). Null when the file is
    // neither open nor recorded. Pair with release().
    Result<std::shared_ptr<CachedFile>> acquire(std::uint64_t dev, std::uint64_t ino);

    // Compares the file as stx shows it with its record and renews the file
    // id (dropping the old id's extents, bumping write_seq) when they
    // differ. Requires file.mutex held.
    //
    // A stat taken before file.mutex may predate a write through the mount
    // that has changed the backing file and then the record since (writers
    // update the record under file.mutex). Renewing from it would put the
    // older size back into the record: reads would take the file's dirty
    // data past that size from the backing file, and writeback would write
    // back only up to it and mark the rest clean. So when `fd` (the file's
    // descriptor) is given and stx does not match, the file is stat'ed
    // again under the lock and only that stat decides.
    Status check_coherent_locked(CachedFile& file, const struct statx& stx, int fd = -1);

    // The last link of (dev, ino) is gone: drops its extents (dirty ones
    // too: they are never written back), its record and its dirty-file
    // record, and returns the dirty bytes dropped. The caller holds the
    // write_lock of `file`, the file's state from acquire() (or null when
    // it had none).
    Result<std::uint64_t> unlinked(std::uint64_t dev, std::uint64_t ino, CachedFile* file);

    // A change of the file's metadata only (rename, link, chmod, utimens)
    // made through the mount, with the file's statx just before and just
    // after it. The record (of the open file, and in the index) takes the
    // after mtime and ctime only if it still matches `before` in identity,
    // size, mtime and ctime, and the size did not change; a change behind
    // the cache's back made before `before` was taken keeps the record
    // stale, so the next open still detects it. True when refreshed.
    Result<bool> metadata_changed(const struct statx& before, const struct statx& after);

    // The record's file id and size of (dev, ino): of its open state if it
    // has one, else as stored; nullopt when there is none or the open state
    // bypasses the cache.
    Result<std::optional<std::pair<std::uint64_t, std::uint64_t>>> id_and_size(std::uint64_t dev,
                                                                               std::uint64_t ino) const;

private:
    Status renew_locked(CachedFile& file, const struct statx& stx);

    Index& index_;
    Logger& log_;
    const std::function<void()> pinned_dropped_;
    mutable std::mutex mutex_;
    std::map<FileIdentity, std::shared_ptr<CachedFile>> files_;  // guarded by mutex_
};

// An open that the engine itself took with FileTable::open() or acquire(),
// released when it goes out of scope.
class FileRef {
public:
    FileRef(FileTable& table, std::shared_ptr<CachedFile> file) : table_(table), file_(std::move(file)) {}
    ~FileRef() {
        if (file_) table_.release(file_);
    }
    FileRef(const FileRef&) = delete;
    FileRef& operator=(const FileRef&) = delete;
    CachedFile* get() const { return file_.get(); }
    CachedFile* operator->() const { return file_.get(); }
    CachedFile& operator*() const { return *file_; }
    explicit operator bool() const { return file_ != nullptr; }

private:
    FileTable& table_;
    std::shared_ptr<CachedFile> file_;
};

}  // namespace bcl
