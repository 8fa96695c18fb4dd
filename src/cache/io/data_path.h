// DataPath: the reads and writes of backing files through the cache, as
// one part of a cache set over its core: reads, hits and misses
// (read_path.cc), reads while the backing directory does not answer
// (offline_read.cc), writes, truncate and fallocate by their route
// (write_path.cc), and writeback mode's dirty writes (dirty_write.cc).
// CacheSet's read(), write(), write_backing(), truncate(), fallocate() and
// open_offline_file() say what each does; those files say how.
//
// Thread safety: as CacheSet's; *_locked functions with the file's
// write_lock held.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "bcachefs_lite/cache/backing_source.h"
#include "bcachefs_lite/cache/cached_file.h"
#include "bcachefs_lite/util/buffer_pool.h"
#include "core/core.h"
#include "io/staged_dirty.h"

namespace bcl {

class Admission;
class Writeback;

class DataPath {
public:
    DataPath(CacheCore& core, Admission& admission, Writeback& writeback);

    Result<std::size_t> read(CachedFile& file, BackingSource& backing, std::uint64_t offset, std::span<std::byte> out,
                             ReadFlags flags = {});
    Result<std::size_t> read(CachedFile& file, int fd, std::uint64_t offset, std::span<std::byte> out) {
        OpenBackingFd backing(fd);
        return read(file, backing, offset, out);
    }
    Result<std::shared_ptr<CachedFile>> open_offline_file(const struct statx& stx);
    Result<std::size_t> write(CachedFile& file, int fd, std::uint64_t offset, std::span<const std::byte> data,
                              WriteFlags flags);
    Result<std::size_t> write_backing(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end,
                                      const std::function<Result<std::size_t>()>& write);
    Status truncate(CachedFile* file, int fd, std::uint64_t size);
    Status fallocate(CachedFile& file, int fd, int mode, std::uint64_t offset, std::uint64_t length);

private:
    struct ReadState;

    // revalidate() for a read: nothing while the file's last check is
    // within the coherency window (then true: the record was trusted).
    // How the check went is reported to the core's backing_link.
    Result<bool> revalidate_for_read(CachedFile& file, BackingSource& backing);
    // After the backing file changed in [start, end) (end UINT64_MAX: to
    // end of file): drops that range, whole blocks, from the cache and
    // brings the record up to date.
    Status written(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end);
    Status invalidate_successor(const CachedFile& file, const struct statx& stx, std::uint64_t start,
                                std::uint64_t end);

    // io/read_path.cc
    Status read_backing(ReadState& st, std::uint64_t start, std::uint64_t end, bool insert);
    // Serves [pos, cache_end) of a read from `extents`, the rest from the
    // backing file; `pos` ends where the read got to.
    Status serve_extents(ReadState& st, const std::vector<Extent>& extents, std::uint64_t& pos,
                         std::uint64_t cache_end);
    // The extents of [st.offset, cache_end) (dirty ones alone for
    // `dirty_only`); none when the lookup fails and the backing may serve.
    Result<std::vector<Extent>> extents_for_read(ReadState& st, std::uint64_t cache_end, bool dirty_only);
    // Counts a read that returned `result` bytes.
    void count_read(const ReadState& st, std::size_t result);
    // io/offline_read.cc: the read served from the cache alone, or `backing_error`.
    Result<std::size_t> read_offline(CachedFile& file, std::uint64_t offset, std::span<std::byte> out,
                                     const Error& backing_error);
    // [start, end) of dirty extent `old` could not be read: moving GC may
    // have moved it since the lookup, and its old bucket been reused. Reads
    // the range as the index holds it now; false when the index still holds
    // `old` there, or what it holds now is dirty and unreadable too.
    Result<bool> read_moved(ReadState& st, const Extent& old, std::uint64_t start, std::uint64_t end);
    // A read that cannot use the cache for the file (`why`) goes to the
    // backing file alone only if the file holds no dirty data: that would
    // be newer than the backing file. Errc::io when its dirty-file record
    // says it does, or the index cannot tell.
    Status backing_only_allowed(const CachedFile& file, std::uint64_t file_id, std::string_view why);
    // io/write_path.cc; *_locked: file.write_lock held.
    Status invalidate_locked(CachedFile& file, const struct statx& stx, std::uint64_t start, std::uint64_t end);
    // Of flags, append and direct_fd count; sync is the caller's business.
    Result<std::size_t> write_direct_locked(CachedFile& file, int fd, std::uint64_t offset,
                                            std::span<const std::byte> data, const WriteFlags& flags, bool insert);
    void insert_written(CachedFile& file, std::uint64_t offset, std::span<const std::byte> data);
    Status write_back_edges_locked(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end);
    // io/dirty_write.cc
    bool dirty_write_allowed(const CachedFile& file, bool sync) const;
    // Puts a whole-block writeback write's data on the cache device ahead
    // of its write_lock (io/staged_dirty.h); nothing for any other write.
    StagedDirty stage_dirty(CachedFile& file, std::uint64_t offset, std::span<const std::byte> data,
                            const WriteFlags& flags);
    // Whether a dirty write of `bytes` to `file` goes to pinned buckets:
    // its file is pinned and the pin limit leaves room for it.
    bool dirty_write_pinned(CachedFile& file, std::uint64_t bytes);
    // Writes the start of `data` (dirty data of file_id at `offset`) to as
    // much of an open bucket as it gets, at most a bucket (a pinned one for
    // `pinned`): the piece, still held by its allocation; nullopt when no
    // bucket is free or the device write failed.
    std::optional<StagedPiece> write_dirty_piece(std::uint64_t file_id, std::uint64_t offset,
                                                 std::span<const std::byte> data, bool pinned);
    // The bytes written, or nullopt when the write must go direct instead.
    // Uses the pieces of `staged` that fit and leaves the rest in it.
    Result<std::optional<std::size_t>> write_dirty_locked(CachedFile& file, int fd, std::uint64_t offset,
                                                          std::span<const std::byte> data, bool sync,
                                                          StagedDirty& staged);
    // Its steps: the engine's read-write fd and the file's handle, or nullopt
    // (logged); one piece into the index: its bytes, 0 to write the rest direct.
    std::optional<int> dirty_rw_fd_locked(CachedFile& file, int fd);
    std::uint64_t commit_dirty_piece(CachedFile& file, std::uint64_t file_id, FileRecord& rec, std::uint64_t at,
                                     const StagedPiece& piece);

    CacheCore& core_;
    Admission& admission_;
    Writeback& writeback_;
    // A miss's read of the backing file, up to a FUSE request's 1 MiB, kept
    // mapped between misses (util/buffer_pool.h).
    BufferPool miss_buffers_{std::size_t{1} << 20, 4};
};

}  // namespace bcl
