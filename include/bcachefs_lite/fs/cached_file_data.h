// CachedFileData: the FileData seam served by the cache engine (a CacheSet
// in any mode but a mount with mode=none). Reads go through the engine
// (hits from the cache device, misses from the backing file and inserted);
// writes go to CacheSet::write() with the open file's O_APPEND, O_SYNC and
// O_DSYNC, and the engine sends them where the cache mode says; fsync is
// CacheSet::fsync(), durable in the mode's sense (invariant 3); truncate
// and fallocate go through the engine. Where the kernel works on the
// backing file's bytes directly, dirty data is written back first:
// copy_file_range (the source range, and the destination's blocks it
// touches) and SEEK_DATA/SEEK_HOLE (from the offset to end of file). Unlink
// of a file's last link drops its cached data; a metadata change through
// the mount (rename, link, chmod, chown, utimens) keeps it, through
// CacheSet::metadata_changed(). While the backing directory does not
// answer, a read-only open of a file the engine knows unchanged is answered
// (open_offline) and its reads serve what the cache holds whole.
//
// Read replies are memory segments: the engine assembles cache and backing
// bytes into one buffer, taken from a pool of them (util/buffer_pool.h).
// Write requests are gathered into one buffer when they arrive in pieces
// or spliced into a pipe.
//
// Each open file handle is one "writer" of sequential detection
// (cache/sequential.h): the engine's calls carry no caller, and a handle is
// what a reading or writing process holds; its id (a number counted up per
// open, never reused in a mount) goes in ReadFlags/WriteFlags.
//
// Thread safety: as FileData requires; all state is in the CacheSet and in
// the handles, but for the atomic counter of handle ids and the buffer pool,
// which locks itself.
#pragma once

#include <atomic>
#include <cstdint>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/fs/file_data.h"
#include "bcachefs_lite/util/buffer_pool.h"

namespace bcl {

class CachedFileData final : public FileData {
public:
    // `cache` must outlive this and every handle it opened.
    CachedFileData(CacheSet& cache, Logger& log) : cache_(cache), log_(log) {}

    const CoherencyWindow* coherency_window() const override { return &cache_.coherency_window(); }
    Result<std::unique_ptr<Handle>> open(BackingFile& backing, const struct statx& stx, int flags) override;
    Result<std::unique_ptr<Handle>> open_checked(BackingFile& backing, const struct statx& stx, std::int64_t checked_ns,
                                                 int flags) override;
    // While CacheSet::backing_link() is down and the engine's record of the
    // file matches `stx` (CacheSet::open_offline_file).
    Result<std::unique_ptr<Handle>> open_offline(BackingFile& backing, const struct statx& stx, int flags) override;
    // Reported to CacheSet::backing_link().
    void backing_failed(const Error& e) override { cache_.backing_link().failed(e); }
    void backing_answered() override { cache_.backing_link().answered(); }
    BackingLink* backing_link() override { return &cache_.backing_link(); }
    // In the cache's index (Index::get_saved), synced.
    Status save_state(std::string_view name, std::string_view bytes) override;
    Result<std::optional<std::string>> saved_state(std::string_view name) override;
    Result<DataVec> read(Handle& handle, std::uint64_t offset, std::size_t size) override;
    Result<std::size_t> write(Handle& handle, std::uint64_t offset, const DataVec& data) override;
    Status flush(Handle& handle) override;
    Status fsync(Handle& handle, bool datasync) override;
    Status truncate(Handle* handle, int path_fd, std::uint64_t size) override;
    Status fallocate(Handle& handle, int mode, std::uint64_t offset, std::uint64_t length) override;
    Result<std::uint64_t> seek_data(Handle& handle, std::uint64_t offset, int whence) override;
    Result<std::size_t> copy_file_range(Handle& in, std::uint64_t offset_in, Handle& out, std::uint64_t offset_out,
                                        std::size_t length, unsigned flags) override;
    void release(std::unique_ptr<Handle> handle) override;
    void unlinked(const FileKey& key, nlink_t links_left) override;
    void metadata_changed(const FileKey& key, const struct statx& before, const struct statx& after) override;

private:
    // A handle of the engine's answer to an open without the backing file
    // (open_checked_file, open_offline_file): null stays null.
    Result<std::unique_ptr<Handle>> handle_of(BackingFile& backing, Result<std::shared_ptr<CachedFile>> file,
                                              int flags);

    // The largest read FUSE sends (Session::kMaxIo), and how many such buffers
    // wait between requests: about the session's worker threads.
    static constexpr std::size_t kReadReplyCapacity = std::size_t{1} << 20;
    static constexpr std::size_t kIdleReadBuffers = 8;

    CacheSet& cache_;
    Logger& log_;
    std::atomic<std::uint64_t> next_writer_{1};
    BufferPool read_buffers_{kReadReplyCapacity, kIdleReadBuffers};
};

}  // namespace bcl
