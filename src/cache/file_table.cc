#include "file_table.h"

#include <sys/sysmacros.h>

#include <climits>
#include <optional>

namespace bcl {

namespace {

std::int64_t ns_of(const struct statx_timestamp& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

FileIdentity identity_of(const struct statx& stx) {
    FileIdentity id;
    id.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    id.ino = stx.stx_ino;
    id.btime_ns = (stx.stx_mask & STATX_BTIME) != 0 ? ns_of(stx.stx_btime) : 0;
    return id;
}

Result<std::shared_ptr<CachedFile>> FileTable::open(const struct statx& stx) {
    const FileIdentity id = identity_of(stx);
    std::lock_guard lk(mutex_);
    auto it = files_.find(id);
    std::shared_ptr<CachedFile> file;
    bool fresh = false;
    if (it != files_.end()) {
        file = it->second;
    } else {
        file = std::make_shared<CachedFile>(id);
        fresh = true;
        auto stored = index_.get_file(id);
        if (!stored) return stored.error();
        if (stored.value()) {
            std::lock_guard fl(file->mutex);
            file->record = *stored.value();
        }
    }
    {
        std::lock_guard fl(file->mutex);
        BCL_TRY(check_coherent_locked(*file, stx));
    }
    if (fresh) files_.emplace(id, file);
    ++file->opens;
    return file;
}

void FileTable::release(const std::shared_ptr<CachedFile>& file) {
    std::lock_guard lk(mutex_);
    if (--file->opens > 0) return;
    auto it = files_.find(file->identity);
    if (it != files_.end() && it->second == file) files_.erase(it);
}

std::shared_ptr<CachedFile> FileTable::find(std::uint64_t dev, std::uint64_t ino) const {
    std::lock_guard lk(mutex_);
    auto it = files_.lower_bound(FileIdentity{dev, ino, INT64_MIN});
    if (it != files_.end() && it->first.dev == dev && it->first.ino == ino) return it->second;
    return nullptr;
}

Status FileTable::check_coherent_locked(CachedFile& file, const struct statx& stx) {
    if (file.bypass) return ok();
    const std::int64_t mtime = ns_of(stx.stx_mtime);
    const std::int64_t ctime = ns_of(stx.stx_ctime);
    if (file.record.file_id != 0 && file.record.matches(file.identity, stx.stx_size, mtime, ctime)) return ok();
    return renew_locked(file, stx);
}

Status FileTable::renew_locked(CachedFile& file, const struct statx& stx) {
    auto id = index_.new_file_id();
    if (!id) return id.error();
    FileRecord rec;
    rec.file_id = id.value();
    rec.size = stx.stx_size;
    rec.mtime_ns = ns_of(stx.stx_mtime);
    rec.ctime_ns = ns_of(stx.stx_ctime);
    rec.btime_ns = file.identity.btime_ns;
    rec.flags = file.record.flags;
    IndexBatch batch;
    if (file.record.file_id != 0) batch.drop_file_extents(file.record.file_id);
    batch.put_file(file.identity, rec);
    // Whatever a miss insert read before now belongs to the old file.
    file.write_seq.fetch_add(1, std::memory_order_acq_rel);
    auto committed = index_.commit(batch, false);
    if (!committed) {
        file.bypass = true;
        return committed.error();
    }
    if (file.record.file_id != 0)
        log_.debug("file {}:{} changed behind the cache: file id {} -> {}", file.identity.dev, file.identity.ino,
                   file.record.file_id, rec.file_id);
    file.record = rec;
    return ok();
}

namespace {

// The record that follows a metadata change from `before` to `after`, or
// nullopt when `rec` does not describe the file as `before` shows it.
std::optional<FileRecord> refreshed(const FileRecord& rec, const FileIdentity& id, const struct statx& before,
                                    const struct statx& after) {
    if (rec.file_id == 0 || !rec.matches(id, before.stx_size, ns_of(before.stx_mtime), ns_of(before.stx_ctime)))
        return std::nullopt;
    FileRecord next = rec;
    next.mtime_ns = ns_of(after.stx_mtime);
    next.ctime_ns = ns_of(after.stx_ctime);
    return next;
}

}  // namespace

Result<bool> FileTable::metadata_changed(const struct statx& before, const struct statx& after) {
    const FileIdentity id = identity_of(before);
    // Another file by now, or one whose data changed: nothing to carry over.
    if (identity_of(after) != id || after.stx_size != before.stx_size) return false;
    // Held throughout, so that an open() cannot load the record in between.
    std::lock_guard lk(mutex_);
    if (auto it = files_.find(id); it != files_.end()) {
        CachedFile& file = *it->second;
        std::lock_guard fl(file.mutex);
        if (file.bypass) return false;
        const auto next = refreshed(file.record, id, before, after);
        if (!next) return false;
        if (*next == file.record) return true;
        BCL_TRY(index_.put_file(id, *next));
        file.record = *next;
        return true;
    }
    auto stored = index_.get_file(id);
    if (!stored) return stored.error();
    if (!stored.value()) return false;
    const auto next = refreshed(*stored.value(), id, before, after);
    if (!next) return false;
    if (*next != *stored.value()) BCL_TRY(index_.put_file(id, *next));
    return true;
}

Status FileTable::unlinked(std::uint64_t dev, std::uint64_t ino) {
    std::shared_ptr<CachedFile> open_file;
    {
        std::lock_guard lk(mutex_);
        auto it = files_.lower_bound(FileIdentity{dev, ino, INT64_MIN});
        if (it != files_.end() && it->first.dev == dev && it->first.ino == ino) {
            open_file = it->second;
            // Open handles keep their state; a new file that reuses the
            // inode number gets a state of its own.
            files_.erase(it);
        }
    }
    IndexBatch batch;
    const FileIdentity key{dev, ino, 0};
    if (open_file) {
        std::lock_guard fl(open_file->mutex);
        open_file->bypass = true;
        open_file->write_seq.fetch_add(1, std::memory_order_acq_rel);
        if (open_file->record.file_id != 0) batch.drop_file_extents(open_file->record.file_id);
    }
    auto stored = index_.get_file(key);
    if (!stored) return stored.error();
    if (stored.value()) {
        batch.drop_file_extents(stored.value()->file_id);
        batch.delete_file(key);
    }
    if (batch.empty()) return ok();
    auto committed = index_.commit(batch, false);
    if (!committed) return committed.error();
    return ok();
}

}  // namespace bcl
