// Writeback: writing a cache set's dirty data back to the backing files, as
// one part over the set's core. The task that does it file by file at
// bcache's rate, on the background's backing strand (task.cc), the
// foreground write-backs of a range, a file or everything, and fsync
// (write_back.cc), and the pass that writes back what a failed cache device
// still holds (evacuation.cc). Dirty writes themselves are the write path's
// (io/dirty_write.cc).
//
// Thread safety: every public function may be called from any thread,
// except start(), cancel_timers() and start_evacuation(), which belong to
// the backing strand (or the owner's thread before the background threads
// start); *_locked ones with the file's write_lock held.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "bcachefs_lite/cache/writeback_tunables.h"
#include "core/core.h"

namespace bcl {

struct WritebackTask;

struct WriteBackResult {
    std::uint64_t bytes = 0;       // dirty bytes written back
    bool more = false;             // dirty data left in the range past max_bytes
    std::uint64_t unreadable = 0;  // dirty bytes skipped: the cache device could not read them
};

class Writeback {
public:
    Writeback(CacheCore& core, const WritebackTunables& tunables);
    ~Writeback();
    Writeback(const Writeback&) = delete;
    Writeback& operator=(const Writeback&) = delete;

    // Once the set serves: the task and its rate updates; dirty data an
    // earlier mount left resumes after writeback_delay.
    void start();
    // At close, on the backing strand.
    void cancel_timers();

    WritebackTunables tunables() const;
    // Errc::invalid (nothing changed) for values out of range.
    Status set_tunables(const WritebackTunables& tunables);
    WritebackStatus status() const;
    // The current rate (0 before start()).
    std::uint64_t rate() const;
    // See CacheSet::start_flush(), write_back_all(), write_back_range() and
    // fsync().
    void start_flush();
    Status write_back_all();
    Status write_back_range(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end);
    Status fsync(int fd, bool datasync);
    // Asks for a step after `delay` unless one is armed sooner.
    void kick(std::chrono::milliseconds delay);
    // The cache went out of service: one pass writes back every dirty file
    // whole, skipping what cannot be read, then the set is in passthrough.
    void start_evacuation();

    // With skip_unreadable, dirty extents the cache device cannot read stay
    // dirty and the rest is written back; without, they fail the call (EIO).
    Result<WriteBackResult> write_back_locked(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end,
                                              std::uint64_t max_bytes, bool skip_unreadable = false);
    Status retire_if_clean_locked(CachedFile& file);
    // Writes the dirty data of a file whose last link is gone while it is
    // still open into its backing inode (write_back.cc says why).
    Status write_back_orphan_locked(CachedFile& file);

private:
    // write_back.cc
    // write_back_locked()'s steps: `dirty` written to the backing file (rw)
    // in runs, up to `size`, skipping (and marking) what cannot be read;
    // then the written extents marked clean with the file's record as `stx`
    // says: the bytes cleaned.
    Status copy_back(const CachedFile& file, int rw, std::vector<Extent>& dirty, std::uint64_t size,
                     bool skip_unreadable, std::vector<bool>& unreadable, std::uint64_t& unreadable_bytes);
    Result<std::uint64_t> mark_clean(CachedFile& file, const struct statx& stx, const std::vector<Extent>& dirty,
                                     const std::vector<bool>& unreadable);
    // Reads dirty extent `e` whole into dst, without counting a hit. If it
    // cannot be read where the lookup found it, reads it where the index
    // holds it now (moving GC moves extents under their key) and sets `e`
    // to that; false when that fails too or it was not moved.
    bool read_dirty_extent(Extent& e, std::byte* dst);
    // Extents written back whose clean replacement was skipped: moving GC
    // moved them (under their key, with the same data) between their read
    // and the commit. Marks them clean where the index holds them now; the
    // bytes cleaned. The caller holds the file's write_lock, so nothing
    // else can have changed their data.
    Result<std::uint64_t> clean_moved(std::vector<Extent> written);
    Result<WriteBackResult> write_back_file(std::uint64_t file_id, const DirtyFileRecord& record,
                                            std::uint64_t max_bytes, bool skip_unreadable = false);
    Status drop_dirty_file(std::uint64_t file_id, std::string_view why);
    // task.cc
    void arm(std::chrono::steady_clock::time_point at);
    void step();
    void pass_over(std::int64_t counted);
    void evacuate_file(std::uint64_t id, const DirtyFileRecord& record);
    void schedule_rate_update();
    void update_rate();
    // evacuation.cc: the end of the evacuating pass.
    void evacuation_over();

    CacheCore& core_;
    mutable std::mutex tunables_mutex_;
    WritebackTunables tunables_;           // guarded by tunables_mutex_
    std::unique_ptr<WritebackTask> task_;  // backing strand only, but see WritebackTask
    std::atomic<bool> flushing_{false};
};

}  // namespace bcl
