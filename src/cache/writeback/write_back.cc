// Writeback: writing dirty data back to the backing files (invariant 2: the
// data reaches the backing file durably before its extent is marked
// clean), fsync, and the per-file and whole-cache entry points.
//
// Writeback (here and writeback/task.cc): dirty extents are read from the
// cache, written to the backing file (found by handle), fdatasync'ed, and only
// then replaced by clean copies (invariant 2), with the file's mtime restored
// to its writer's. Moving GC may move a dirty extent (under its key) between
// the lookup and the read, or the read and the commit: an extent that cannot be
// read where it was found is read where the index holds it now, and one whose
// clean replacement was skipped is cleaned in its new place (the file's
// write_lock keeps its data the same). A task on the backing strand does this file by
// file at a rate set as bcache sets it; a flush does it at full speed.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "bcachefs_lite/util/aligned_buffer.h"
#include "files/backing_file_io.h"
#include "files/backing_stat.h"
#include "files/file_handle.h"
#include "files/file_table.h"
#include "writeback/writeback.h"

namespace bcl {

namespace {

// The longest stretch of contiguous dirty extents written with one pwrite.
constexpr std::uint64_t kMaxRun = 4u << 20;

// Clean data keeps one copy (the backing file has the data now): the
// first, unless its device failed.
ExtentValue cleaned(ExtentValue v, bool first_failed) {
    v.flags = static_cast<std::uint8_t>(v.flags & ~kExtentDirty);
    if (v.replica) {
        if (first_failed) v.set_ptr(0, *v.replica);
        v.replica.reset();
    }
    return v;
}

}  // namespace

bool Writeback::read_dirty_extent(Extent& e, std::byte* dst) {
    if (core_.read_extent(e, e.start(), e.end(), dst, /*count_hit=*/false)) return true;
    // Moving GC may have moved it since the lookup (keeping its key) and
    // its old bucket been reused: the index holds its new place.
    auto found = core_.index->lookup(e.file(), e.start(), e.end());
    if (!found) return false;
    for (const Extent& now : found.value()) {
        if (now.key != e.key || now.start() != e.start() || now.value == e.value || !now.value.dirty()) continue;
        if (!core_.read_extent(now, now.start(), now.end(), dst, /*count_hit=*/false)) return false;
        // Cleaned by the writeback's commit in its new place.
        e = now;
        return true;
    }
    return false;
}

Result<std::uint64_t> Writeback::clean_moved(std::vector<Extent> written) {
    // Each round cleans the extents where the index holds them now; one
    // moved again meanwhile is tried once more, a few times at most.
    constexpr int kRounds = 4;
    std::uint64_t bytes = 0;
    for (int round = 0; round < kRounds && !written.empty(); ++round) {
        IndexBatch batch;
        std::vector<Extent> tried;
        for (const Extent& e : written) {
            auto found = core_.index->lookup(e.file(), e.start(), e.end());
            if (!found) return found.error();
            for (const Extent& now : found.value()) {
                if (now.key != e.key || now.start() != e.start() || now.value == e.value || !now.value.dirty())
                    continue;
                batch.replace_extent_if_unchanged(now.key, now.value,
                                                  cleaned(now.value, !core_.device_usable(now.value.device)));
                tried.push_back(now);
            }
        }
        if (tried.empty()) break;
        auto committed = core_.index->commit(batch, false);
        if (!committed) return committed.error();
        const auto& skipped = committed.value().skipped;
        written.clear();
        for (Extent& e : tried) {
            if (std::find(skipped.begin(), skipped.end(), e.key) == skipped.end())
                bytes += e.value.length;
            else
                written.push_back(std::move(e));
        }
    }
    return bytes;
}

Result<WriteBackResult> Writeback::write_back_locked(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end,
                                                     std::uint64_t max_bytes, bool skip_unreadable) {
    WriteBackResult out;
    FileRecord rec;
    {
        std::lock_guard lk(file.mutex);
        rec = file.record;
    }
    if (rec.file_id == 0 || start >= end) return out;
    auto found = core_.index->lookup(rec.file_id, start, end);
    if (!found) return found.error();
    std::vector<Extent> dirty;
    for (Extent& e : found.value())
        if (e.value.dirty()) dirty.push_back(std::move(e));
    if (dirty.empty()) return out;
    // In offset order, up to max_bytes (at least one extent).
    std::size_t n = 0;
    std::uint64_t bytes = 0;
    while (n < dirty.size() && (n == 0 || bytes < max_bytes)) bytes += dirty[n++].value.length;
    out.more = n < dirty.size();

    if (core_.hooks.after_write_back_lookup) core_.hooks.after_write_back_lookup(file, start, end);

    auto rw = core_.rw_fd_locked(file, fd);
    if (!rw) return rw.error();
    dirty.erase(dirty.begin() + static_cast<std::ptrdiff_t>(n), dirty.end());
    // Extents skipped because the cache device cannot read them.
    std::vector<bool> unreadable(n, false);
    BCL_TRY(copy_back(file, rw.value(), dirty, rec.size, skip_unreadable, unreadable, out.unreadable));
    if (::fdatasync(rw.value()) != 0) return sys_error(errno, "fdatasync of the backing file");
    // The file keeps the mtime its writer gave it, not the writeback's.
    const std::array<struct timespec, 2> times{timespec{0, UTIME_OMIT},
                                               timespec{rec.mtime_ns / 1'000'000'000, rec.mtime_ns % 1'000'000'000}};
    if (::futimens(rw.value(), times.data()) != 0) return sys_error(errno, "restoring the backing file's mtime");
    auto stat_now = statx_of(rw.value());
    if (!stat_now) return stat_now.error();
    auto cleaned_bytes = mark_clean(file, stat_now.value(), dirty, unreadable);
    if (!cleaned_bytes) return cleaned_bytes.error();
    core_.add_dirty(-static_cast<std::int64_t>(cleaned_bytes.value()));
    if (cleaned_bytes.value() != 0) core_.gc_requests->note_change();
    core_.counters.bytes_written_back.fetch_add(cleaned_bytes.value(), std::memory_order_relaxed);
    out.bytes = bytes;
    return out;
}

Status Writeback::copy_back(const CachedFile& file, int rw, std::vector<Extent>& dirty, std::uint64_t size,
                            bool skip_unreadable, std::vector<bool>& unreadable, std::uint64_t& unreadable_bytes) {
    const std::size_t n = dirty.size();
    for (std::size_t i = 0; i < n;) {
        // Neighbours merge into one write.
        std::size_t j = i + 1;
        while (j < n && dirty[j].start() == dirty[j - 1].end() && dirty[j].end() - dirty[i].start() <= kMaxRun) ++j;
        const std::uint64_t run_start = dirty[i].start();
        const std::uint64_t run_end = dirty[j - 1].end();
        AlignedBuffer buf(run_end - run_start);
        for (std::size_t k = i; k < j; ++k) {
            if (!read_dirty_extent(dirty[k], buf.data() + (dirty[k].start() - run_start))) {
                core_.counters.cache_read_errors.fetch_add(1, std::memory_order_relaxed);
                if (!skip_unreadable)
                    return make_error(Errc::io, fmt::format("dirty data of file {}:{} at offset {} cannot be read "
                                                            "from the cache device",
                                                            file.identity.dev, file.identity.ino, dirty[k].start()));
                unreadable[k] = true;
                unreadable_bytes += dirty[k].value.length;
            }
        }
        // Each stretch of readable extents with one write; the block
        // holding end of file is padded past it.
        for (std::size_t k = i; k < j;) {
            if (unreadable[k]) {
                ++k;
                continue;
            }
            std::size_t m = k + 1;
            while (m < j && !unreadable[m]) ++m;
            const std::uint64_t from = dirty[k].start();
            const std::uint64_t write_end = std::min(dirty[m - 1].end(), size);
            if (from < write_end) BCL_TRY(pwrite_full(rw, buf.data() + (from - run_start), write_end - from, from));
            k = m;
        }
        i = j;
    }
    return ok();
}

Result<std::uint64_t> Writeback::mark_clean(CachedFile& file, const struct statx& stx, const std::vector<Extent>& dirty,
                                            const std::vector<bool>& unreadable) {
    IndexBatch batch;
    for (std::size_t k = 0; k < dirty.size(); ++k)
        if (!unreadable[k])
            batch.replace_extent_if_unchanged(dirty[k].key, dirty[k].value,
                                              cleaned(dirty[k].value, !core_.device_usable(dirty[k].value.device)));
    Result<CommitResult> committed = make_error(Errc::invalid, "not committed");
    {
        std::lock_guard lk(file.mutex);
        FileRecord next = file.record;
        next.size = stx.stx_size;
        next.mtime_ns = ns_of(stx.stx_mtime);
        next.ctime_ns = ns_of(stx.stx_ctime);
        batch.put_file(file.identity, next);
        committed = core_.index->commit(batch, false);
        if (committed) file.record = next;
    }
    if (!committed) return committed.error();
    std::uint64_t cleaned_bytes = 0;
    std::vector<Extent> moved_meanwhile;
    const auto& skipped = committed.value().skipped;
    for (std::size_t k = 0; k < dirty.size(); ++k) {
        if (unreadable[k]) continue;
        if (std::find(skipped.begin(), skipped.end(), dirty[k].key) == skipped.end())
            cleaned_bytes += dirty[k].value.length;
        else
            moved_meanwhile.push_back(dirty[k]);
    }
    auto cleaned_moved = clean_moved(std::move(moved_meanwhile));
    if (!cleaned_moved) return cleaned_moved.error();
    return cleaned_bytes + cleaned_moved.value();
}

Status Writeback::retire_if_clean_locked(CachedFile& file) {
    std::uint64_t id;
    {
        std::lock_guard lk(file.mutex);
        id = file.record.file_id;
    }
    if (id == 0) return ok();
    auto extents = core_.index->lookup(id, 0, UINT64_MAX);
    if (!extents) return extents.error();
    for (const Extent& e : extents.value())
        if (e.value.dirty()) return ok();
    IndexBatch batch;
    batch.delete_dirty_file(id);
    auto committed = core_.index->commit(batch, false);
    if (!committed) return committed.error();
    return ok();
}

Status Writeback::drop_dirty_file(std::uint64_t file_id, std::string_view why) {
    auto extents = core_.index->lookup(file_id, 0, UINT64_MAX);
    if (!extents) return extents.error();
    std::uint64_t dirty = 0;
    for (const Extent& e : extents.value())
        if (e.value.dirty()) dirty += e.value.length;
    IndexBatch batch;
    batch.drop_file_extents(file_id);
    batch.delete_dirty_file(file_id);
    auto committed = core_.index->commit(batch, false);
    if (!committed) return committed.error();
    core_.add_dirty(-static_cast<std::int64_t>(dirty));
    core_.gc_requests->note_change();
    core_.log.warn("dropping {} bytes of dirty data of cache file {}: {}", dirty, file_id, why);
    return ok();
}

// An unlinked file still open through the mount keeps its data until its
// last close (POSIX). From the unlink on, the cache drops what it holds of
// the file and its handles read and write the backing inode, which their
// descriptors keep alive (bypass); so its dirty data goes there first, into
// that inode, found by its handle: never under a name, which may belong to
// another file by now.
Status Writeback::write_back_orphan_locked(CachedFile& file) {
    std::uint64_t id;
    {
        std::lock_guard lk(file.mutex);
        if (file.bypass || file.record.file_id == 0) return ok();
        id = file.record.file_id;
    }
    std::optional<DirtyFileRecord> record = file.dirty_record;
    if (!record) {
        auto stored = core_.index->get_dirty_file(id);
        if (!stored) return stored.error();
        if (!stored.value()) return ok();  // nothing dirty
        record = stored.value();
    }
    if (file.rw_fd < 0) {
        auto fd = open_file_handle(core_.root_fd, *record, O_RDWR);
        if (!fd) return fd.error();
        file.rw_fd = fd.value();
    }
    auto result = write_back_locked(file, file.rw_fd, 0, UINT64_MAX, UINT64_MAX);
    if (!result) return result.error();
    return ok();
}

Result<WriteBackResult> Writeback::write_back_file(std::uint64_t file_id, const DirtyFileRecord& record,
                                                   std::uint64_t max_bytes, bool skip_unreadable) {
    auto opened = open_file_handle(core_.root_fd, record, O_RDWR);
    if (!opened) {
        if (opened.error().code != Errc::not_found) return opened.error();
        BCL_TRY(drop_dirty_file(file_id, "its backing file was deleted behind the cache's back"));
        return WriteBackResult{};
    }
    int fd = opened.value();
    struct Close {
        int& fd;
        ~Close() {
            if (fd >= 0) ::close(fd);
        }
    } close_fd{fd};
    auto stx = statx_of(fd);
    if (!stx) return stx.error();
    auto opened_file = core_.files->open(stx.value(), fd);
    if (!opened_file) return opened_file.error();
    FileRef file(*core_.files, std::move(opened_file).value());

    std::lock_guard wl(file->write_lock);
    std::uint64_t id;
    {
        std::lock_guard lk(file->mutex);
        id = file->record.file_id;
    }
    if (id != file_id) {
        BCL_TRY(drop_dirty_file(
            file_id, fmt::format("its backing file (dev {}, ino {}) is another file now", record.dev, record.ino)));
        return WriteBackResult{};
    }
    if (file->rw_fd < 0) file->rw_fd = std::exchange(fd, -1);
    if (!file->dirty_record) file->dirty_record = record;
    auto result = write_back_locked(*file, file->rw_fd, 0, UINT64_MAX, max_bytes, skip_unreadable);
    if (result && !result.value().more) BCL_TRY(retire_if_clean_locked(*file));
    return result;
}

Status Writeback::write_back_range(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end) {
    if (!core_.may_hold_dirty()) return ok();
    std::lock_guard wl(file.write_lock);
    BCL_TRY(write_back_locked(file, fd, round_down(start, core_.block_size), end, UINT64_MAX));
    return retire_if_clean_locked(file);
}

Status Writeback::write_back_all() {
    Status first_error = ok();
    std::uint64_t from = 0;
    for (;;) {
        auto next = core_.index->next_dirty_file(from);
        if (!next) return next.error();
        if (!next.value()) break;
        const auto& [id, record] = *next.value();
        if (auto r = write_back_file(id, record, UINT64_MAX); !r) {
            core_.log.error("writeback of cache file {}: {}", id, r.error().message);
            if (first_error) first_error = r.error();
        }
        from = id + 1;
    }
    return first_error;
}

Status Writeback::fsync(int fd, bool datasync) {
    if ((datasync ? ::fdatasync(fd) : ::fsync(fd)) != 0) return sys_error(errno, "fsync of the backing file");
    // Dirty data of this file (or any: the index syncs as a whole) is
    // durable once the cache device is flushed and the index synced;
    // Index::sync() flushes the device first (before_durable).
    if (core_.may_hold_dirty() || core_.mode.load(std::memory_order_acquire) == CacheMode::writeback)
        BCL_TRY(core_.index->sync());
    return ok();
}

}  // namespace bcl
