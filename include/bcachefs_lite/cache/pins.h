// Pins: the pinned files and directories of a cache set, one part of it
// over the set's core (src/cache/pin/ says how): the pin flag of files and
// directories, the pin limit, and the background work that fetches a
// pinned file's data and walks a pinned directory. CacheSet::pins() gives
// it to the fs layer (the bcachefs_lite.pinned xattr) and to tests.
//
// Thread safety: every public function may be called from any thread,
// except resume_pin_fetch(), queue_pin_resume() and drop_pin_jobs(), which
// belong to the cache set.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "bcachefs_lite/cache/cached_file.h"
#include "bcachefs_lite/index/file_format.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

struct CacheCore;
struct PinJob;
struct PinQueue;

class Pins {
public:
    // fetch_step_bytes: what one step of a pinned file's fetch caches at
    // most (at least 1).
    Pins(CacheCore& core, std::uint64_t fetch_step_bytes);
    ~Pins();
    Pins(const Pins&) = delete;
    Pins& operator=(const Pins&) = delete;

    // Pins (or unpins) the backing file or directory open as fd (any
    // descriptor of it, O_PATH too; statx'ed as stx). A pinned regular
    // file's record takes kFilePinned, and its data is fetched into pinned
    // buckets in the background and never invalidated; a pinned directory
    // gets a record of its own (no data) and everything below it is pinned
    // by a background walk (no symlinks followed, no mount crossed).
    // Errc::no_space (with a log line naming the file) when the file's size
    // would take pinned data past pin_limit_percent; Errc::invalid for
    // anything but a regular file or a directory. Unpinning makes the data
    // reclaimable from the next GC pass on. Durable when it returns (synced,
    // which flushes the cache device first); a directory's walk is durable
    // step by step and redone at the next open if cut short.
    Status set_pinned(int fd, const struct statx& stx, bool pinned);
    // Pins a file or directory just created below a pinned directory, as
    // set_pinned() but not synced: a flush of the cache device per created
    // file would make an untar below a pinned directory crawl. A crash
    // before the index's next sync leaves the new file unpinned (its data
    // is not at risk).
    Status inherit_pin(int fd, const struct statx& stx);
    // Whether the file or directory stx describes has a pinned record.
    Result<bool> pinned(const struct statx& stx);
    // Bytes of the file (dev, ino), up to its size, held as pinned data.
    Result<std::uint64_t> pinned_bytes(std::uint64_t dev, std::uint64_t ino);
    unsigned pin_limit_percent() const;
    // Errc::invalid (nothing changed) above 100.
    Status set_pin_limit_percent(unsigned percent);

    // For the cache set: a pinned file was opened (queues its fetch unless
    // one is queued); the pass over the pinned-file records at open; the
    // end of every job at close.
    void resume_pin_fetch(const std::shared_ptr<CachedFile>& file, int fd);
    void queue_pin_resume();
    void drop_pin_jobs();

private:
    // Queues the background fetch of the open file `file` (registered as
    // one more open, released when the job ends) from a readable
    // descriptor of it, or the walk of a directory (`file` null) that pins
    // or unpins (`pin`) its entries; takes fd. `walk_id` names a walk's
    // directory when it has a pinned-file record (deleted when the walk
    // completes); dev 0 and ino 0 when not.
    void queue_pin_job(std::shared_ptr<CachedFile> file, int fd, bool pin, const FileIdentity& walk_id = {});
    // pin/resume.cc: the bounded step of the pass over the pinned-file
    // records at open (true while records remain).
    bool resume_pins_step(PinJob& job);
    // Queues the fetch or walk one pinned-file record asks for, or drops
    // the record when its file is gone or no longer pinned.
    void resume_pin_record(const DirtyFileRecord& record);
    void drop_pin_record(std::uint64_t dev, std::uint64_t ino, std::string_view why);
    // A walk went through its whole directory: its pending record goes,
    // unless the directory's pin changed meanwhile (a later walk is queued).
    void finish_pin_walk(const PinJob& job);
    void pin_fetch_kick();
    // One bounded step of the queue's first job on the backing strand; true while
    // jobs remain.
    bool pin_fetch_step();
    // Caches up to pin_fetch_step_bytes of what the pinned file lacks;
    // true when it lacks more.
    bool fetch_pinned_file(PinJob& job);
    // Pins (or unpins) up to a bounded number of the directory's entries;
    // true while more remain.
    bool walk_pinned_dir(PinJob& job);
    // set_pinned(), synced or (a walk's entries) not.
    Status pin_entry(int fd, const struct statx& stx, bool pinned, bool sync);
    // The file handle to record for a pinned entry; none where handles do
    // not work below the backing root.
    std::optional<DirtyFileRecord> pin_handle_of(int fd, const FileIdentity& id);
    // `name` is for the log line of a refusal; `handle` is recorded with a pin.
    Status pin_file_locked(CachedFile& file, bool pinned, std::string_view name,
                           const std::optional<DirtyFileRecord>& handle, bool sync);
    Status pin_dir(const struct statx& stx, bool pinned, const std::optional<DirtyFileRecord>& handle, bool sync);
    // Clears kExtentPinned of the file id's extents; file.mutex held.
    Status unpin_extents_locked(std::uint64_t file_id);

    CacheCore& core_;
    const std::uint64_t fetch_step_bytes_;
    std::unique_ptr<PinQueue> queue_;
};

}  // namespace bcl
