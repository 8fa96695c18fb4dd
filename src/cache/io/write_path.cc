// DataPath: writes, truncate and fallocate. write() takes the route
// resolve_write_route() gives it (route.h; dirty writes are in
// io/dirty_write.cc); the direct path changes the backing
// file first; then, under the file's mutex, write_seq is bumped, the
// changed blocks leave the index and the record follows the file. Every
// path holds the file's write_lock, and writes back the dirty bytes of
// blocks it would drop only in part.
//
// Writes, under the file's write_lock: writethrough, writearound and none write
// the backing file first; then, under the file's mutex, write_seq is bumped,
// the written blocks are removed from the index and the file record is updated
// to the file's new size, mtime and ctime (so the cache's own writes are not
// mistaken for changes behind its back); writethrough then caches the blocks it
// wrote. Dirty bytes in a block such a write covers only in part are written
// back first. Writeback (io/dirty_write.cc) writes whole blocks to the
// cache as dirty extents, in one index batch with the file record and the
// file's dirty-file record (its file handle), and marks their buckets dirty.
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "bcachefs_lite/cache/route.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/direct_io.h"
#include "files/backing_stat.h"
#include "files/file_table.h"
#include "io/admission.h"
#include "io/data_path.h"
#include "io/staged_dirty.h"
#include "writeback/writeback.h"

namespace bcl {

Status DataPath::invalidate_locked(CachedFile& file, const struct statx& stx, std::uint64_t start, std::uint64_t end) {
    file.write_seq.fetch_add(1, std::memory_order_acq_rel);
    if (file.bypass || file.record.file_id == 0) return ok();
    const std::uint64_t lo = round_down(start, core_.block_size);
    const std::uint64_t hi = end >= UINT64_MAX - core_.block_size ? UINT64_MAX : round_up(end, core_.block_size);
    FileRecord rec = file.record;
    rec.size = stx.stx_size;
    rec.mtime_ns = ns_of(stx.stx_mtime);
    rec.ctime_ns = ns_of(stx.stx_ctime);
    IndexBatch batch;
    if (lo < hi) batch.remove_range(rec.file_id, lo, hi);
    batch.put_file(file.identity, rec);
    auto committed = core_.index->commit(batch, false);
    if (!committed) {
        // The old blocks may still be indexed: never read this file from
        // the cache again while it is open; its record no longer matches the
        // file, so the next open starts it afresh.
        file.bypass = true;
        return committed.error();
    }
    core_.account_overwrites(committed.value().overwrites);
    file.record = rec;
    mark_checked(file, stx);
    return ok();
}

Status DataPath::written(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end) {
    auto stx = statx_of(fd);
    bool bypassed;
    {
        std::lock_guard lk(file.mutex);
        if (!stx) {
            file.write_seq.fetch_add(1, std::memory_order_acq_rel);
            file.bypass = true;
            return stx.error();
        }
        if (auto st = invalidate_locked(file, stx.value(), start, end); !st) {
            core_.log.error("cache invalidation after a write failed; bypassing the cache for the file: {}",
                            st.error().message);
            return st.error();
        }
        bypassed = file.bypass;
    }
    if (bypassed) return invalidate_successor(file, stx.value(), start, end);
    return ok();
}

// A bypassed state may still be written through by the handles that hold
// it, while a later open of the same key has a state of its own (under
// identity=path a name stays when the data of its other names is dropped):
// that state must not keep serving what the write replaced, even within
// its coherency window.
Status DataPath::invalidate_successor(const CachedFile& file, const struct statx& stx, std::uint64_t start,
                                      std::uint64_t end) {
    auto current = core_.files->find(file.identity.dev, file.identity.ino);
    if (!current || current.get() == &file) return ok();
    std::lock_guard lk(current->mutex);
    return invalidate_locked(*current, stx, start, end);
}

namespace {

// A dirty write's room in the backing file: writeback must not be the first
// to learn that the backing file system is full or the owner over quota,
// long after the write returned. Allocating the range now (without changing
// the size) fails this write with ENOSPC or EDQUOT, as a write through
// would; the blocks are there when the data is written back. A backing file
// system without fallocate reserves nothing: there, only writeback meets a
// full file system, and the data stays dirty until it fits.
//
// Some file systems (ext4) stamp mtime and ctime even so: the record takes
// them at once, under the file's mutex, so that no read in between takes
// the cache's own change for one behind its back.
Status reserve_backing(CachedFile& file, int fd, std::uint64_t offset, std::size_t len) {
    if (len == 0) return ok();
    std::lock_guard lk(file.mutex);
    if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset), static_cast<off_t>(len)) != 0) {
        const int err = errno;
        if (err == EOPNOTSUPP || err == ENOSYS) return ok();
        return sys_error(err, "reserving room in the backing file for dirty data");
    }
    auto stx = statx_of(fd);
    if (!stx) return stx.error();
    file.record.size = stx.value().stx_size;
    file.record.mtime_ns = ns_of(stx.value().stx_mtime);
    file.record.ctime_ns = ns_of(stx.value().stx_ctime);
    mark_checked(file, stx.value());
    return ok();
}

}  // namespace

Result<std::size_t> DataPath::write(CachedFile& file, int fd, std::uint64_t offset, std::span<const std::byte> data,
                                    WriteFlags flags) {
    // A sequential write (sequential.h) goes to the backing file and drops
    // the range from the cache, whatever the mode. An append's offset is
    // known only under the lock.
    bool sequential = !flags.append && admission_.sequential_write(file, offset, data.size(), flags.writer);
    StagedDirty staged = stage_dirty(file, offset, sequential ? data.first(0) : data, flags);
    std::lock_guard wl(file.write_lock);
    BCL_TRY(core_.revalidate(file, fd));
    if (flags.append) {
        {
            // Under write_lock the record's size is the end of file.
            std::lock_guard lk(file.mutex);
            offset = file.record.size;
        }
        sequential = admission_.sequential_write(file, offset, data.size(), flags.writer);
    }
    switch (resolve_write_route(core_.mode.load(std::memory_order_acquire), sequential,
                                [&] { return dirty_write_allowed(file, flags.sync); })) {
    case WriteRoute::sequential: {
        auto n = write_direct_locked(file, fd, offset, data, flags, false);
        if (n) core_.counters.bypassed.fetch_add(n.value(), std::memory_order_relaxed);
        return n;
    }
    case WriteRoute::dirty: {
        // Through the engine's own read-write descriptor: the caller's
        // may not allow fallocate. Without one, the write goes direct.
        if (auto rw = core_.rw_fd_locked(file, fd)) BCL_TRY(reserve_backing(file, rw.value(), offset, data.size()));
        auto n = write_dirty_locked(file, fd, offset, data, flags.sync, staged);
        if (!n) return n.error();
        if (n.value()) return *n.value();
        // No room after all: as no_room.
        [[fallthrough]];
    }
    case WriteRoute::no_room:
        core_.counters.writes_direct.fetch_add(1, std::memory_order_relaxed);
        return write_direct_locked(file, fd, offset, data, flags, false);
    case WriteRoute::through: return write_direct_locked(file, fd, offset, data, flags, true);
    case WriteRoute::around: break;
    }
    return write_direct_locked(file, fd, offset, data, flags, false);
}

Result<std::size_t> DataPath::write_backing(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end,
                                            const std::function<Result<std::size_t>()>& write) {
    std::lock_guard wl(file.write_lock);
    BCL_TRY(core_.revalidate(file, fd));
    if (core_.may_hold_dirty()) BCL_TRY(write_back_edges_locked(file, fd, start, end));
    auto n = write();
    BCL_TRY(written(file, fd, start, end));
    return n;
}

Result<std::size_t> DataPath::write_direct_locked(CachedFile& file, int fd, std::uint64_t offset,
                                                  std::span<const std::byte> data, const WriteFlags& flags,
                                                  bool insert) {
    const bool append = flags.append;
    const std::uint64_t end = offset + data.size();
    // Dirty bytes in the blocks the write only partly covers must reach the
    // backing file first: invalidation drops whole blocks.
    if (core_.may_hold_dirty()) BCL_TRY(write_back_edges_locked(file, fd, offset, append ? UINT64_MAX : end));
    // An O_APPEND descriptor writes at the end of file, wherever offset
    // says; the O_DIRECT one has no O_APPEND.
    auto n = pwrite_all(fd, append ? -1 : flags.direct_fd, offset, data);
    // Even a failed write may have changed part of the range.
    BCL_TRY(written(file, fd, offset, append ? UINT64_MAX : end));
    if (!n) return n.error();
    if (insert && !append) insert_written(file, offset, data.first(n.value()));
    return n.value();
}

// Writethrough: the blocks a write covered whole go to the cache as clean
// data (bcache's writethrough writes both). The block holding end of file
// counts as whole, padded with zeroes as a miss insert pads it.
void DataPath::insert_written(CachedFile& file, std::uint64_t offset, std::span<const std::byte> data) {
    const std::uint64_t end = offset + data.size();
    std::uint64_t file_id, size;
    {
        std::lock_guard lk(file.mutex);
        if (file.bypass) return;
        file_id = file.record.file_id;
        size = file.record.size;
    }
    const std::uint64_t lo = round_up(offset, core_.block_size);
    const std::uint64_t hi = end >= size ? round_up(end, core_.block_size) : round_down(end, core_.block_size);
    if (file_id == 0 || lo >= hi || core_.closing.load(std::memory_order_acquire) || admission_.insert_congested())
        return;
    // Sampled after the write's own invalidation bumped it.
    const std::uint64_t seq = file.write_seq.load(std::memory_order_acquire);
    AlignedBuffer buf(hi - lo);
    std::memcpy(buf.data(), data.data() + (lo - offset), std::min(hi, end) - lo);
    core_.insert_clean(file, file_id, seq, lo, buf.span());
}

Status DataPath::write_back_edges_locked(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end) {
    const std::uint64_t first = round_down(start, core_.block_size);
    if (start != first) BCL_TRY(writeback_.write_back_locked(file, fd, first, first + core_.block_size, UINT64_MAX));
    if (end == UINT64_MAX || end % core_.block_size == 0) return ok();
    const std::uint64_t last = round_down(end, core_.block_size);
    if (last == first && start != first) return ok();
    BCL_TRY(writeback_.write_back_locked(file, fd, last, last + core_.block_size, UINT64_MAX));
    return ok();
}

Status DataPath::truncate(CachedFile* open, int fd, std::uint64_t size) {
    auto before = statx_of(fd);
    if (!before) return before.error();
    // A file not open through the mount gets a passing state for the call.
    std::shared_ptr<CachedFile> passing;
    if (!open) {
        auto f = core_.files->open(before.value(), fd);
        if (!f) return f.error();
        passing = std::move(f).value();
        open = passing.get();
    } else {
        BCL_TRY(core_.revalidate(*open, fd));
    }
    const FileRef release(*core_.files, std::move(passing));
    std::lock_guard wl(open->write_lock);

    std::uint64_t old_size;
    {
        std::lock_guard lk(open->mutex);
        old_size = open->record.size;
    }
    // The block holding the new (or old) end of file is dropped below: its
    // dirty bytes before that end go to the backing file first.
    if (core_.may_hold_dirty()) BCL_TRY(write_back_edges_locked(*open, fd, std::min(size, old_size), UINT64_MAX));
    int r = ::ftruncate(fd, static_cast<off_t>(size));
    if (r != 0 && errno == EBADF) {
        // An O_PATH descriptor: truncate the file it names.
        char path[40];
        std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        r = ::truncate(path, static_cast<off_t>(size));
    }
    const int err = r != 0 ? errno : 0;
    BCL_TRY(written(*open, fd, std::min(size, old_size), UINT64_MAX));
    if (err != 0) return sys_error(err, "truncate of the backing file");
    // What the truncation dropped may have been the file's last dirty data:
    // its dirty-file record goes too, as after a writeback, so that the
    // index never keeps a record without dirty data (fsck checks both).
    if (core_.may_hold_dirty()) BCL_TRY(writeback_.retire_if_clean_locked(*open));
    return ok();
}

Status DataPath::fallocate(CachedFile& file, int fd, int mode, std::uint64_t offset, std::uint64_t length) {
    std::lock_guard wl(file.write_lock);
    BCL_TRY(core_.revalidate(file, fd));
    std::uint64_t start = offset, end = offset;
    const bool moves = (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) != 0;
    if (moves) {
        end = UINT64_MAX;  // everything after offset moved
    } else if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
        end = offset + length < offset ? UINT64_MAX : offset + length;
    }
    if (core_.may_hold_dirty()) {
        // Dirty data that the backing file's bytes are about to move under
        // (or that shares a block with the range) is written back first.
        if (moves) {
            BCL_TRY(
                writeback_.write_back_locked(file, fd, round_down(offset, core_.block_size), UINT64_MAX, UINT64_MAX));
        } else {
            BCL_TRY(write_back_edges_locked(file, fd, start, end));
        }
    }
    const int r = ::fallocate(fd, mode, static_cast<off_t>(offset), static_cast<off_t>(length));
    const int err = r != 0 ? errno : 0;
    BCL_TRY(written(file, fd, start, end));
    if (err != 0) return sys_error(err, "fallocate of the backing file");
    return ok();
}

}  // namespace bcl
