// DataPath: writes in writeback mode. The data goes to the cache device as
// dirty extents, whole blocks at a time (the blocks a write covers only in
// part are read first and merged); the backing file only takes the new size
// and mtime. A write that cannot be cached dirty goes to the backing file.
// A pinned file's dirty data goes to pinned buckets, within the pin limit,
// so that it is never evicted once written back.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "bcachefs_lite/cache/route.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/crc32c.h"
#include "devices/superblock_flags.h"
#include "files/backing_stat.h"
#include "files/file_handle.h"
#include "files/file_table.h"
#include "io/admission.h"
#include "io/data_path.h"
#include "io/extent_ptrs.h"
#include "io/staged_dirty.h"
#include "writeback/writeback.h"

namespace bcl {

namespace {

// The backing file takes the new size, or the new mtime, first: a crash
// after it leaves a record that no longer matches, and the file keeps its
// dirty data through the renewal (files/file_table.h). The record in memory
// takes the change at once, under the file's mutex: a read that checked the
// file in between would take the cache's own change for one behind its back
// and renew the file, and this data would go in under a file id nothing
// reads any more. The record as it is then, or nullopt when the file was
// renewed since `file_id` was taken.
Result<std::optional<FileRecord>> stamp_backing(CachedFile& file, int rw, std::uint64_t file_id, std::uint64_t end,
                                                std::uint64_t size) {
    std::lock_guard lk(file.mutex);
    if (file.record.file_id != file_id) return std::optional<FileRecord>();
    const int r =
        end > size
            ? ::ftruncate(rw, static_cast<off_t>(end))
            : ::futimens(rw, std::array<struct timespec, 2>{timespec{0, UTIME_OMIT}, timespec{0, UTIME_NOW}}.data());
    if (r != 0) return sys_error(errno, "updating the backing file's size and mtime");
    auto stat_now = statx_of(rw);
    if (!stat_now) return stat_now.error();
    file.record.size = stat_now.value().stx_size;
    file.record.mtime_ns = ns_of(stat_now.value().stx_mtime);
    file.record.ctime_ns = ns_of(stat_now.value().stx_ctime);
    return std::optional<FileRecord>(file.record);
}

}  // namespace

bool DataPath::dirty_write_allowed(const CachedFile& file, bool sync) const {
    // A cache out of service takes no dirty data: the write goes to the
    // backing file. Writeback finds files again by handle on the backing
    // root's file system only; others are written through.
    if (!core_.writeback_possible || !core_.in_service() || file.identity.dev != core_.root_dev) return false;
    const WritebackTunables t = writeback_.tunables();
    const std::uint64_t percent = core_.capacity_bytes == 0 ? 100 : core_.dirty_bytes() * 100 / core_.capacity_bytes;
    // bcache's should_writeback(): past cutoff_writeback_sync nothing more
    // is cached dirty; past cutoff_writeback only synchronous writes are.
    if (percent >= t.cutoff_writeback_sync) return false;
    return sync || percent < t.cutoff_writeback;
}

StagedDirty DataPath::stage_dirty(CachedFile& file, std::uint64_t offset, std::span<const std::byte> data,
                                  const WriteFlags& flags) {
    StagedDirty staged(core_.sectors.get());
    // Partial blocks need a read-modify-write under the lock; an append's
    // offset is known only there.
    if (data.empty() || flags.append || !is_aligned(offset, core_.block_size) ||
        !is_aligned(data.size(), core_.block_size))
        return staged;
    // Ahead of the lock, where the route will most likely be dirty.
    if (resolve_write_route(core_.mode.load(std::memory_order_acquire), false,
                            [&] { return dirty_write_allowed(file, flags.sync); }) != WriteRoute::dirty)
        return staged;
    std::uint64_t file_id;
    {
        std::lock_guard lk(file.mutex);
        if (file.bypass || file.record.file_id == 0) return staged;
        file_id = file.record.file_id;
    }
    const bool pinned = dirty_write_pinned(file, data.size());
    AlignedBuffer buf = AlignedBuffer::uninitialized(data.size());
    std::memcpy(buf.data(), data.data(), data.size());
    std::uint64_t done = 0;
    while (done < data.size()) {
        // One that fails is tried again by the write itself, under the lock.
        auto piece = write_dirty_piece(file_id, offset + done, buf.span().subspan(done), pinned);
        if (!piece) break;
        done += std::uint64_t{piece->alloc.sectors} * kSectorSize;
        staged.add(*piece);
    }
    return staged;
}

bool DataPath::dirty_write_pinned(CachedFile& file, std::uint64_t bytes) {
    {
        std::lock_guard lk(file.mutex);
        if (!file.record.pinned()) return false;
    }
    // As for a miss insert: past the pin limit the data is cached as any
    // other dirty data, reclaimable once written back.
    return core_.counters.pinned_bytes.load(std::memory_order_relaxed) + bytes <= core_.pin_limit_bytes();
}

std::optional<StagedPiece> DataPath::write_dirty_piece(std::uint64_t file_id, std::uint64_t offset,
                                                       std::span<const std::byte> data, bool pinned) {
    const std::uint32_t bucket_sectors = core_.alloc->bucket_sectors();
    const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(data.size() / kSectorSize, bucket_sectors));
    // A write never waits for a bucket: what finds none goes direct.
    // One bucket on each of `replicas` devices: the data is acknowledged
    // only once every copy is written, so losing one device loses none of it.
    auto a = core_.dirty_sectors().alloc_sectors(WriteKey{file_id, offset / kSectorSize}, want,
                                                 static_cast<unsigned>(file_id % kWritePoints),
                                                 /*write_prio=*/false, pinned, /*wait=*/false);
    if (!a) return std::nullopt;
    for (const AllocPtr& p : a.value().ptrs) {
        if (auto st = core_.sb_flags[p.dev]->set(kSbFlagDirty); !st) {
            core_.log.warn(
                "writing through instead of caching dirty: the cache superblock cannot record dirty data: {}",
                st.error().message);
            core_.sectors->put(a.value());
            return std::nullopt;
        }
    }
    const auto bytes = data.first(std::uint64_t{a.value().sectors} * kSectorSize);
    // A copy that failed fails the piece, as the one copy's failure would.
    if (const Status written = core_.write_allocation(a.value(), bytes); !written) {
        core_.log.debug("cache write of dirty data failed: {}", written.error().message);
        core_.sectors->put(a.value());
        return std::nullopt;
    }
    return StagedPiece{offset, a.value(), crc32c(0, bytes), pinned};
}

Result<std::optional<std::size_t>> DataPath::write_dirty_locked(CachedFile& file, int fd, std::uint64_t offset,
                                                                std::span<const std::byte> data, bool sync,
                                                                StagedDirty& staged) {
    using Done = std::optional<std::size_t>;
    if (data.empty()) return Done(0);
    std::uint64_t file_id, size;
    {
        std::lock_guard lk(file.mutex);
        if (file.bypass || file.record.file_id == 0) return Done();
        file_id = file.record.file_id;
        size = file.record.size;
    }
    const std::optional<int> rw = dirty_rw_fd_locked(file, fd);
    if (!rw) return Done();

    const std::uint64_t end = offset + data.size();
    const std::uint64_t lo = round_down(offset, core_.block_size);
    const std::uint64_t hi = round_up(end, core_.block_size);
    AlignedBuffer buf(hi - lo);  // zeroed: what lies past end of file
    // The blocks the write covers only in part keep their other bytes.
    const std::uint64_t last = hi - core_.block_size;
    if (offset != lo && lo < size) BCL_TRY(read(file, *rw, lo, buf.span().subspan(0, core_.block_size)));
    if (end != hi && last < size && (last != lo || offset == lo))
        BCL_TRY(read(file, *rw, last, buf.span().subspan(last - lo, core_.block_size)));
    std::memcpy(buf.data() + (offset - lo), data.data(), data.size());

    auto rec = stamp_backing(file, *rw, file_id, end, size);
    if (!rec) return rec.error();
    if (!rec.value()) return Done();  // renewed since: written through

    const bool was_clean = core_.dirty_bytes() == 0;
    const bool pinned = dirty_write_pinned(file, hi - lo);
    std::uint64_t done = 0;
    while (done < hi - lo) {
        std::optional<StagedPiece> piece = staged.take(lo + done);
        if (!piece) piece = write_dirty_piece(file_id, lo + done, buf.span().subspan(done), pinned);
        if (!piece) break;
        const std::uint64_t len = commit_dirty_piece(file, file_id, *rec.value(), lo + done, *piece);
        if (len == 0) break;
        core_.counters.bytes_written_dirty.fetch_add(std::min(lo + done + len, end) - std::max(lo + done, offset),
                                                     std::memory_order_relaxed);
        done += len;
    }
    if (done == 0) return Done();
    if (lo + done < end) {
        // The rest starts on a block boundary; it goes to the backing file.
        core_.counters.writes_direct.fetch_add(1, std::memory_order_relaxed);
        const std::uint64_t from = lo + done;
        auto n = write_direct_locked(file, *rw, from, data.subspan(from - offset), WriteFlags{}, false);
        if (!n) return n.error();
        if (n.value() < end - from) return Done(static_cast<std::size_t>(from - offset + n.value()));
    }
    if (sync) {
        // The new size too (fdatasync syncs what reading the data needs).
        if (end > size && ::fdatasync(*rw) != 0) return sys_error(errno, "fdatasync of the backing file");
        BCL_TRY(core_.index->sync());
    }
    if (was_clean)
        writeback_.kick(std::chrono::duration_cast<std::chrono::milliseconds>(writeback_.tunables().writeback_delay));
    return Done(data.size());
}

std::optional<int> DataPath::dirty_rw_fd_locked(CachedFile& file, int fd) {
    auto rw = core_.rw_fd_locked(file, fd);
    if (!rw) {
        core_.log.warn("writing through instead of caching dirty: {}", rw.error().message);
        return std::nullopt;
    }
    if (!file.dirty_record) {
        auto handle = file_handle_of(rw.value(), file.identity);
        if (!handle) {
            core_.log.warn("writing through instead of caching dirty: {}", handle.error().message);
            return std::nullopt;
        }
        file.dirty_record = std::move(handle).value();
    }
    return rw.value();
}

std::uint64_t DataPath::commit_dirty_piece(CachedFile& file, std::uint64_t file_id, FileRecord& rec, std::uint64_t at,
                                           const StagedPiece& piece) {
    const SectorAlloc& a = piece.alloc;
    if (!core_.in_service()) {
        // Taken out of service meanwhile: its writeback pass may be past
        // this file already, so the rest goes to the backing file.
        core_.sectors->put(a);
        return 0;
    }
    const std::uint64_t len = std::uint64_t{a.sectors} * kSectorSize;
    ExtentValue value = extent_value_of(a, len, piece.crc, /*dirty=*/true);
    Result<CommitResult> committed = make_error(Errc::invalid, "not committed");
    bool renewed = false;
    {
        std::lock_guard lk(file.mutex);
        // A renewal meanwhile gave the file a new id (a file with dirty
        // data keeps its id, so only before the first piece): the extent
        // must not go in under the old id, where nothing would find it
        // again. The rest goes to the backing file.
        if (file.bypass || file.record.file_id != file_id) {
            renewed = true;
        } else {
            // The flags are the pin's, which may have changed since rec was
            // taken: a stale copy would undo it. The piece is pinned as the
            // record says now: an unpin since it was written leaves it
            // unpinned (its pinned bucket is then marked only as dirty); a
            // pin since leaves it to the pin fetch, as the file's other
            // unpinned data.
            rec.flags = file.record.flags;
            const bool pinned_piece = piece.pinned && rec.pinned();
            if (pinned_piece) value.flags |= kExtentPinned;
            IndexBatch batch;
            batch.insert_extent(file_id, at, value);
            batch.put_file(file.identity, rec);
            batch.put_dirty_file(file_id, *file.dirty_record);
            file.write_seq.fetch_add(1, std::memory_order_acq_rel);
            committed = core_.index->commit(batch, false);
            if (committed) {
                file.record = rec;
                // Never invalidated while it holds dirty (or pinned) data;
                // GC marks it so again on every pass from the extent's
                // flags. Marked under file.mutex for a pinned piece, as an
                // unpin takes the flag off under it.
                const GcMark mark = pinned_piece ? GcMark::pinned : GcMark::dirty;
                for (const AllocPtr& p : a.ptrs) (void)core_.alloc->device(p.dev).gc_mark(p.bucket, p.gen, mark, 0);
                if (pinned_piece) core_.counters.pinned_bytes.fetch_add(len, std::memory_order_relaxed);
            }
        }
    }
    core_.sectors->put(a);
    if (renewed) return 0;
    if (!committed) {
        core_.log.warn("index insert of dirty data failed, writing through: {}", committed.error().message);
        return 0;
    }
    core_.account_overwrites(committed.value().overwrites);
    core_.add_dirty(static_cast<std::int64_t>(len));
    return len;
}

}  // namespace bcl
