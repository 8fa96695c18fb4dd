#include "files/file_table.h"

#include <sys/sysmacros.h>

#include <climits>
#include <optional>

#include "bcachefs_lite/cache/coherency_window.h"
#include "files/backing_stat.h"

namespace bcl {

FileIdentity identity_of(const struct statx& stx) {
    FileIdentity id;
    id.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    id.ino = stx.stx_ino;
    id.btime_ns = (stx.stx_mask & STATX_BTIME) != 0 ? ns_of(stx.stx_btime) : 0;
    return id;
}

Result<std::shared_ptr<CachedFile>> FileTable::open(const struct statx& stx, int fd) {
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
        BCL_TRY(check_coherent_locked(*file, stx, fd));
    }
    if (fresh) files_.emplace(id, file);
    ++file->opens;
    return file;
}

Result<std::shared_ptr<CachedFile>> FileTable::open_if_current(const struct statx& stx, std::int64_t checked_ns) {
    if (stx.stx_nlink != 1) return std::shared_ptr<CachedFile>();
    const FileIdentity id = identity_of(stx);
    std::lock_guard lk(mutex_);
    auto it = files_.find(id);
    std::shared_ptr<CachedFile> file;
    if (it != files_.end()) {
        file = it->second;
    } else {
        auto stored = index_.get_file(id);
        if (!stored) return stored.error();
        if (!stored.value()) return std::shared_ptr<CachedFile>();
        file = std::make_shared<CachedFile>(id);
        file->record = *stored.value();
        file->checked_ns.store(checked_ns, std::memory_order_release);
    }
    {
        std::lock_guard fl(file->mutex);
        if (file->bypass || file->record.file_id == 0 ||
            !file->record.matches(file->identity, stx.stx_size, ns_of(stx.stx_mtime), ns_of(stx.stx_ctime)))
            return std::shared_ptr<CachedFile>();
    }
    if (it == files_.end()) files_.emplace(id, file);
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

Result<std::shared_ptr<CachedFile>> FileTable::acquire(std::uint64_t dev, std::uint64_t ino) {
    std::lock_guard lk(mutex_);
    auto it = files_.lower_bound(FileIdentity{dev, ino, INT64_MIN});
    if (it != files_.end() && it->first.dev == dev && it->first.ino == ino) {
        ++it->second->opens;
        return it->second;
    }
    auto stored = index_.get_file(FileIdentity{dev, ino, 0});
    if (!stored) return stored.error();
    if (!stored.value()) return std::shared_ptr<CachedFile>();
    auto file = std::make_shared<CachedFile>(FileIdentity{dev, ino, stored.value()->btime_ns});
    {
        std::lock_guard fl(file->mutex);
        file->record = *stored.value();
    }
    files_.emplace(file->identity, file);
    ++file->opens;
    return file;
}

int FileTable::opens(const CachedFile& file) const {
    std::lock_guard lk(mutex_);
    return file.opens;
}

Result<std::optional<std::pair<std::uint64_t, std::uint64_t>>> FileTable::id_and_size(std::uint64_t dev,
                                                                                      std::uint64_t ino) const {
    using IdSize = std::optional<std::pair<std::uint64_t, std::uint64_t>>;
    if (auto open = find(dev, ino)) {
        std::lock_guard lk(open->mutex);
        if (open->bypass || open->record.file_id == 0) return IdSize();
        return IdSize(std::pair{open->record.file_id, open->record.size});
    }
    auto stored = index_.get_file(FileIdentity{dev, ino, 0});
    if (!stored) return stored.error();
    if (!stored.value()) return IdSize();
    return IdSize(std::pair{stored.value()->file_id, stored.value()->size});
}

Status FileTable::check_coherent_locked(CachedFile& file, const struct statx& stx, int fd) {
    if (file.bypass) return ok();
    const auto matches = [&](const struct statx& s) {
        return file.record.file_id != 0 &&
               file.record.matches(file.identity, s.stx_size, ns_of(s.stx_mtime), ns_of(s.stx_ctime));
    };
    const auto checked = [&](const struct statx& s, Status st) {
        if (st) mark_checked(file, s);
        return st;
    };
    if (matches(stx)) return checked(stx, ok());
    if (fd < 0) return checked(stx, renew_locked(file, stx));
    auto now = statx_of(fd);
    if (!now) return now.error();
    if (matches(now.value())) return checked(now.value(), ok());
    return checked(now.value(), renew_locked(file, now.value()));
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
    // A file changed behind the cache's back keeps its pin; another file
    // that took a freed inode number (another birth time) does not.
    rec.flags = file.record.btime_ns == file.identity.btime_ns ? file.record.flags : 0;
    IndexBatch batch;
    if (file.record.file_id != 0) {
        auto dirty = index_.get_dirty_file(file.record.file_id);
        if (!dirty) {
            file.bypass = true;
            return dirty.error();
        }
        if (dirty.value()) {
            // Dirty data stays, under the same id; the clean extents go.
            auto extents = index_.lookup(file.record.file_id, 0, UINT64_MAX);
            if (!extents) {
                file.bypass = true;
                return extents.error();
            }
            for (const Extent& e : extents.value())
                if (!e.value.dirty()) batch.delete_extent_if_unchanged(e.key, e.value);
            rec.file_id = file.record.file_id;
        } else {
            batch.drop_file_extents(file.record.file_id);
        }
    }
    batch.put_file(file.identity, rec);
    // Whatever a miss insert read before now belongs to the old file.
    file.write_seq.fetch_add(1, std::memory_order_acq_rel);
    auto committed = index_.commit(batch, false);
    if (!committed) {
        file.bypass = true;
        return committed.error();
    }
    if (file.record.pinned() && file.record.file_id != 0 && pinned_dropped_) pinned_dropped_();
    if (file.record.file_id != 0 && file.record.file_id != rec.file_id)
        log_.debug("file {}:{} changed behind the cache: file id {} -> {}", file.identity.dev, file.identity.ino,
                   file.record.file_id, rec.file_id);
    else if (file.record.file_id != 0)
        log_.info("file {}:{} changed behind the cache while it holds dirty data: the dirty data stays",
                  file.identity.dev, file.identity.ino);
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

Result<std::uint64_t> FileTable::unlinked(std::uint64_t dev, std::uint64_t ino, CachedFile* file) {
    {
        std::lock_guard lk(mutex_);
        auto it = files_.lower_bound(FileIdentity{dev, ino, INT64_MIN});
        // Open handles keep their state; a new file that reuses the inode
        // number gets a state of its own.
        if (it != files_.end() && it->first.dev == dev && it->first.ino == ino) files_.erase(it);
    }
    IndexBatch batch;
    std::uint64_t dirty_dropped = 0;
    auto drop = [&](std::uint64_t id) -> Status {
        auto dirty = index_.get_dirty_file(id);
        if (!dirty) return dirty.error();
        if (dirty.value()) {
            auto extents = index_.lookup(id, 0, UINT64_MAX);
            if (!extents) return extents.error();
            for (const Extent& e : extents.value())
                if (e.value.dirty()) dirty_dropped += e.value.length;
            batch.delete_dirty_file(id);
        }
        batch.drop_file_extents(id);
        return ok();
    };
    std::uint64_t open_id = 0;
    bool pinned = false;
    if (file) {
        std::lock_guard fl(file->mutex);
        file->bypass = true;
        file->write_seq.fetch_add(1, std::memory_order_acq_rel);
        open_id = file->record.file_id;
        pinned = file->record.pinned();
        if (open_id != 0) BCL_TRY(drop(open_id));
    }
    const FileIdentity key{dev, ino, 0};
    auto stored = index_.get_file(key);
    if (!stored) return stored.error();
    if (stored.value()) {
        pinned = pinned || stored.value()->pinned();
        if (stored.value()->file_id != open_id) BCL_TRY(drop(stored.value()->file_id));
        batch.delete_file(key);
    }
    if (pinned) batch.delete_pinned_file(dev, ino);
    if (batch.empty()) return std::uint64_t{0};
    auto committed = index_.commit(batch, false);
    if (!committed) return committed.error();
    if (pinned && pinned_dropped_) pinned_dropped_();
    return dirty_dropped;
}

}  // namespace bcl
