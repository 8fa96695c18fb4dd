// Pins: the pin flag of files (kFilePinned in their record)
// and directories (a record of their own with no data), the pin limit, and
// unpinning. The data of a pinned file is fetched by pin/fetch.cc.
//
// Where file handles work below the backing root, a pinned regular file
// also has a pinned-file record (its file handle, index_format.h), written
// in the same batch as its pin flag and deleted with it, and so has a
// directory whose walk is under way: pin/resume.cc finds them at mount.
//
// Pinning (here and pin/fetch.cc): a pinned file's record carries kFilePinned,
// and its data goes into the cache as extents flagged kExtentPinned, written
// only into pinned open buckets (pinned data never shares a bucket with
// reclaimable data). An insert of pinned data marks its bucket GcMark::pinned
// under the allocation's pin, as a dirty insert does, and every GC pass marks
// it so again from the flag, so the allocator never invalidates it. A writeback
// write to a pinned file goes to pinned buckets too (io/dirty_write.cc,
// within the pin limit): its extents carry kExtentDirty | kExtentPinned, and
// written back they stay pinned; an unpin takes the pin flag off and leaves the
// dirty one. A job on the backing strand fetches what a pinned file lacks,
// pin_fetch_step_bytes at a time, as miss inserts with the same write_seq check
// (invariant 4); it is queued by the pin and again at every open of a pinned
// file (a change behind the cache's back renews the record and keeps the pin).
// A pinned directory has a record of its own with no extents; pinning one
// queues a walk of its entries, a bounded number per step, that pins them (and
// queues their own walks), so no recursion grows with the tree. Where file
// handles work (backing_root_fd), a pinned file's handle is recorded in the
// index (pinned_files) with its pin, and so is a directory's while its walk has
// not completed; at open a pass over those records (pin/resume.cc, bounded
// steps on the backing strand) queues the fetch of each file, which finds what a
// cut-short fetch or the first GC pass after an unclean shutdown left out, and
// redoes each unfinished walk; a record whose file is gone or whose handle
// names another file (identity or btime) is dropped with one log line. Unpin
// and unlink delete the record. set_pinned() commits synced; a walk commits its
// entries unsynced and syncs once at the end of each step. pin_limit_percent
// caps pinned bytes (CacheCounters::pinned_bytes: set by each GC pass, counted
// up by pinned inserts and down by overwrites and unpins between passes).
// Unpinning rewrites the file's extents without the flag
// (replace-if-unchanged); the buckets become reclaimable at the next pass.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>

#include "bcachefs_lite/cache/pins.h"
#include "core/core.h"
#include "files/file_handle.h"
#include "files/file_table.h"
#include "pin/fetch.h"

namespace bcl {
namespace {

// The backing path of a descriptor, for log lines only.
std::string path_of_fd(int fd) {
    const std::string proc = fmt::format("/proc/self/fd/{}", fd);
    char buf[4096];
    const ssize_t n = ::readlink(proc.c_str(), buf, sizeof buf);
    if (n <= 0) return fmt::format("descriptor {}", fd);
    return std::string(buf, static_cast<std::size_t>(n));
}

// A descriptor of its own on the file fd is open as (O_PATH too).
Result<int> reopen_fd(int fd, int flags) {
    const std::string proc = fmt::format("/proc/self/fd/{}", fd);
    const int own = ::open(proc.c_str(), flags | O_CLOEXEC);
    if (own < 0) return sys_error(errno, "reopening the backing file to pin it");
    return own;
}

}  // namespace

Pins::Pins(CacheCore& core, std::uint64_t fetch_step_bytes)
    : core_(core), fetch_step_bytes_(fetch_step_bytes), queue_(std::make_unique<PinQueue>()) {}

Pins::~Pins() = default;

unsigned Pins::pin_limit_percent() const { return core_.pin_limit_percent.load(std::memory_order_relaxed); }

Status Pins::set_pin_limit_percent(unsigned percent) {
    if (percent > 100) return make_error(Errc::invalid, fmt::format("pin_limit_percent={}: at most 100", percent));
    core_.pin_limit_percent.store(percent, std::memory_order_relaxed);
    return ok();
}

Status Pins::set_pinned(int fd, const struct statx& stx, bool pin) {
    // Synced: the pin (and a directory's pending walk) outlives a crash
    // once the attribute is set.
    return pin_entry(fd, stx, pin, /*sync=*/true);
}

Status Pins::inherit_pin(int fd, const struct statx& stx) { return pin_entry(fd, stx, true, /*sync=*/false); }

std::optional<DirtyFileRecord> Pins::pin_handle_of(int fd, const FileIdentity& id) {
    if (!core_.writeback_possible) return std::nullopt;  // handles do not work below the backing root
    auto handle = file_handle_of(fd, id);
    if (!handle) {
        core_.log.debug("no file handle for a pinned entry; its pin resumes when it is opened: {}",
                        handle.error().message);
        return std::nullopt;
    }
    return std::move(handle).value();
}

Status Pins::pin_entry(int fd, const struct statx& stx, bool pin, bool sync) {
    if (core_.closing.load(std::memory_order_acquire)) return make_error(Errc::shutdown, "the cache is closing");
    const unsigned type = stx.stx_mode & S_IFMT;
    if (type == S_IFDIR) {
        if (core_.caller_identities)
            return make_error(Errc::unsupported,
                              "pinning a directory needs identity=inode: its walk finds the "
                              "files by inode number, which this mount does not go by");
        const std::optional<DirtyFileRecord> handle = pin_handle_of(fd, identity_of(stx));
        BCL_TRY(pin_dir(stx, pin, handle, sync));
        auto dir = reopen_fd(fd, O_RDONLY | O_DIRECTORY);
        if (!dir) return dir.error();
        queue_pin_job(nullptr, dir.value(), pin, handle ? identity_of(stx) : FileIdentity{});
        return ok();
    }
    if (type != S_IFREG) return make_error(Errc::invalid, "only regular files and directories can be pinned");
    auto own = reopen_fd(fd, O_RDONLY);
    if (!own) return own.error();
    auto opened = core_.files->open(stx, own.value());
    if (!opened) {
        ::close(own.value());
        return opened.error();
    }
    std::shared_ptr<CachedFile> file = std::move(opened).value();
    Status st = ok();
    {
        std::lock_guard lk(file->mutex);
        const std::optional<DirtyFileRecord> handle = pin ? pin_handle_of(own.value(), file->identity) : std::nullopt;
        st = pin_file_locked(*file, pin, pin ? path_of_fd(own.value()) : std::string(), handle, sync);
    }
    if (!st || !pin) {
        core_.files->release(file);
        ::close(own.value());
        // The buckets of unpinned data become reclaimable at the next pass.
        if (st && !pin) core_.gc_requests->note_change();
        return st;
    }
    queue_pin_job(std::move(file), own.value(), true);
    return ok();
}

Status Pins::pin_file_locked(CachedFile& file, bool pin, std::string_view name,
                             const std::optional<DirtyFileRecord>& handle, bool sync) {
    if (file.bypass) return make_error(Errc::io, "the file's cache state is unusable (unlinked, or an index error)");
    if (file.record.pinned() == pin) {
        // Pinned by a walk not yet synced, or before pins had handles.
        if (!handle) return sync ? core_.index->sync() : ok();
        IndexBatch batch;
        batch.put_pinned_file(*handle);
        auto committed = core_.index->commit(batch, sync);
        if (!committed) return committed.error();
        return ok();
    }
    if (pin) {
        const std::uint64_t pinned = core_.counters.pinned_bytes.load(std::memory_order_relaxed);
        const std::uint64_t limit = core_.pin_limit_bytes();
        if (pinned + file.record.size > limit) {
            core_.log.warn(
                "pinning {} refused: its {} bytes would take pinned data past pin_limit_percent={} "
                "({} of {} bytes pinned)",
                name, file.record.size, pin_limit_percent(), pinned, limit);
            return make_error(Errc::no_space, fmt::format("pinning {} would take pinned data past pin_limit_percent={}",
                                                          name, pin_limit_percent()));
        }
    }
    FileRecord rec = file.record;
    rec.flags = pin ? rec.flags | kFilePinned : rec.flags & ~kFilePinned;
    IndexBatch batch;
    batch.put_file(file.identity, rec);
    if (pin && handle) batch.put_pinned_file(*handle);
    if (!pin) batch.delete_pinned_file(file.identity.dev, file.identity.ino);
    // Synced for an explicit pin. A walk's entries are not (a synced write
    // flushes the cache device first, one flush per file): the walk syncs
    // once per step instead.
    auto committed = core_.index->commit(batch, sync);
    if (!committed) return committed.error();
    file.record = rec;
    if (!pin) return unpin_extents_locked(rec.file_id);
    return ok();
}

Status Pins::unpin_extents_locked(std::uint64_t file_id) {
    auto extents = core_.index->lookup(file_id, 0, UINT64_MAX);
    if (!extents) return extents.error();
    IndexBatch batch;
    std::uint64_t bytes = 0;
    for (const Extent& e : extents.value()) {
        if (!e.value.pinned()) continue;
        ExtentValue v = e.value;
        v.flags = static_cast<std::uint8_t>(v.flags & ~kExtentPinned);
        batch.replace_extent_if_unchanged(e.key, e.value, v);
        bytes += e.value.length;
    }
    auto committed = core_.index->commit(batch, false);
    if (!committed) return committed.error();
    std::uint64_t now = core_.counters.pinned_bytes.load(std::memory_order_relaxed);
    while (!core_.counters.pinned_bytes.compare_exchange_weak(now, now - std::min(now, bytes),
                                                              std::memory_order_relaxed)) {
    }
    return ok();
}

Status Pins::pin_dir(const struct statx& stx, bool pin, const std::optional<DirtyFileRecord>& handle, bool sync) {
    const FileIdentity id = identity_of(stx);
    auto stored = core_.index->get_file(id);
    if (!stored) return stored.error();
    const bool recorded = stored.value() && stored.value()->btime_ns == id.btime_ns;
    IndexBatch batch;
    // The walk that follows is pending until it completes: at mount, a
    // pending walk is redone, pinning or unpinning as the directory's own
    // record says.
    if (handle) batch.put_pinned_file(*handle);
    if (!pin) {
        if (stored.value()) batch.delete_file(id);
    } else if (!recorded || !stored.value()->pinned()) {
        // A record like a file's, holding no extents: only its flag means anything.
        auto file_id = core_.index->new_file_id();
        if (!file_id) return file_id.error();
        FileRecord rec;
        rec.file_id = file_id.value();
        rec.btime_ns = id.btime_ns;
        rec.flags = kFilePinned;
        batch.put_file(id, rec);
    }
    if (batch.empty()) return sync ? core_.index->sync() : ok();
    auto committed = core_.index->commit(batch, sync);
    if (!committed) return committed.error();
    return ok();
}

Result<bool> Pins::pinned(const struct statx& stx) {
    const FileIdentity id = identity_of(stx);
    if (auto open = core_.files->find(id.dev, id.ino); open && open->identity == id) {
        std::lock_guard lk(open->mutex);
        return open->record.pinned();
    }
    auto stored = core_.index->get_file(id);
    if (!stored) return stored.error();
    return stored.value() && stored.value()->btime_ns == id.btime_ns && stored.value()->pinned();
}

Result<std::uint64_t> Pins::pinned_bytes(std::uint64_t dev, std::uint64_t ino) {
    return core_.file_bytes(dev, ino, [](const Extent& e) { return e.value.pinned(); });
}

}  // namespace bcl
