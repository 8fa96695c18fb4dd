// CacheSet: the facade. Open and close go to the parts' assembly
// (assembly/parts.h); the file operations are here, over the core; every
// other call is handed to the part that does it.
//
// Where each part works, and says how: reads (io/read_path.cc), inserts
// of clean data and invariant 4 (core/clean_insert.cc), sequential bypass
// and congestion (io/admission.h), routes (route.h), writes
// (io/write_path.cc), dirty writes (io/dirty_write.cc), writeback
// (writeback/write_back.cc), GC (gc/gc.cc, gc/scheduler.h), pinning
// (pin/pinning.cc), moving GC (gc/moving_gc.cc), device errors
// (health/io_errors.cc) and cache sets of several devices
// (devices/open.cc).
#include "bcachefs_lite/cache/cache_set.h"

#include <mutex>

#include "assembly/parts.h"
#include "files/file_table.h"
#include "report/report.h"

namespace bcl {

CacheSet::CacheSet(std::unique_ptr<CacheSetParts> parts) : parts_(std::move(parts)), core_(*parts_->core) {}

Result<std::unique_ptr<CacheSet>> CacheSet::open(CacheSetOptions options, Logger& log) {
    auto parts = CacheSetParts::open(std::move(options), log);
    if (!parts) return parts.error();
    return std::unique_ptr<CacheSet>(new CacheSet(std::move(parts).value()));
}

CacheSet::~CacheSet() {
    if (auto st = close(); !st) core_.log.error("closing the cache: {}", st.error().message);
}

Status CacheSet::close() { return parts_->close(); }

Status CacheSet::run_gc() { return parts_->gc->run(); }

unsigned CacheSet::gc_threads() const { return parts_->gc->job().threads(); }
Admission& CacheSet::admission() { return *parts_->admission; }
Pins& CacheSet::pins() { return *parts_->pins; }
Writeback& CacheSet::writeback() { return *parts_->writeback; }
GcScheduler& CacheSet::gc() { return *parts_->gc; }
bool CacheSet::opened_from_gc_snapshot() const { return parts_->opened_from_gc_snapshot; }
bool CacheSet::opened_clean() const { return parts_->opened_clean; }

Result<std::size_t> CacheSet::read(CachedFile& file, BackingSource& backing, std::uint64_t offset,
                                   std::span<std::byte> out, ReadFlags flags) {
    return parts_->data_path->read(file, backing, offset, out, flags);
}
Result<std::shared_ptr<CachedFile>> CacheSet::open_offline_file(const struct statx& stx) {
    return parts_->data_path->open_offline_file(stx);
}
Result<std::size_t> CacheSet::write(CachedFile& file, int fd, std::uint64_t offset, std::span<const std::byte> data,
                                    WriteFlags flags) {
    return parts_->data_path->write(file, fd, offset, data, flags);
}
Result<std::size_t> CacheSet::write_backing(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end,
                                            const std::function<Result<std::size_t>()>& write) {
    return parts_->data_path->write_backing(file, fd, start, end, write);
}
Status CacheSet::truncate(CachedFile* file, int fd, std::uint64_t size) {
    return parts_->data_path->truncate(file, fd, size);
}
Status CacheSet::fallocate(CachedFile& file, int fd, int mode, std::uint64_t offset, std::uint64_t length) {
    return parts_->data_path->fallocate(file, fd, mode, offset, length);
}

WritebackStatus CacheSet::writeback_status() const { return parts_->writeback->status(); }
void CacheSet::start_flush() { parts_->writeback->start_flush(); }
Status CacheSet::write_back_all() { return parts_->writeback->write_back_all(); }
Status CacheSet::write_back_range(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end) {
    return parts_->writeback->write_back_range(file, fd, start, end);
}
Status CacheSet::fsync(CachedFile&, int fd, bool datasync) { return parts_->writeback->fsync(fd, datasync); }

const CoherencyWindow& CacheSet::coherency_window() const { return core_.window; }
BackingLink& CacheSet::backing_link() { return core_.backing_link; }
CacheState CacheSet::state() const { return core_.state.load(std::memory_order_acquire); }
const Superblock& CacheSet::superblock() const { return core_.devices[0]->superblock(); }
CacheDevice& CacheSet::device(unsigned dev) { return *core_.devices[dev]; }
Index& CacheSet::index() { return *core_.index; }
AllocSet& CacheSet::alloc() { return *core_.alloc; }

std::size_t CacheSet::run_background_until_idle() {
    // With a thread the work runs there; polling as well would race it.
    if (core_.background->running()) return 0;
    return core_.background->run_until_idle();
}

CacheStats CacheSet::stats() const {
    CacheStats s = stats_of(core_);
    if (parts_->writeback) s.writeback_rate = parts_->writeback->rate();
    return s;
}

Result<PriorityStats> CacheSet::priority_stats() const { return bcl::priority_stats(*core_.alloc, std::nullopt); }

Result<std::vector<DeviceStatus>> CacheSet::device_status() const { return device_status_of(core_); }

Result<ConsistencyReport> CacheSet::check_consistency() const {
    return bcl::check_consistency(*core_.index, *core_.alloc);
}

Result<std::shared_ptr<CachedFile>> CacheSet::open_file(int fd, const struct statx& stx) {
    if (core_.closing.load(std::memory_order_acquire)) return make_error(Errc::shutdown, "the cache is closing");
    auto opened = core_.files->open(stx, fd);
    // A pinned file not fully cached (after a restart, a change behind the
    // cache's back, a fetch cut short) is fetched again.
    if (opened && core_.in_service()) parts_->pins->resume_pin_fetch(opened.value(), fd);
    return opened;
}

Result<std::shared_ptr<CachedFile>> CacheSet::open_checked_file(const struct statx& stx, std::int64_t checked_ns) {
    if (core_.closing.load(std::memory_order_acquire)) return make_error(Errc::shutdown, "the cache is closing");
    if (!core_.window.holds(checked_ns)) return std::shared_ptr<CachedFile>();
    return core_.files->open_if_current(stx, checked_ns);
}

void CacheSet::release_file(const std::shared_ptr<CachedFile>& file) {
    if (file) core_.files->release(file);
}

void CacheSet::unlinked(std::uint64_t dev, std::uint64_t ino, std::uint64_t links_left) {
    if (links_left != 0) return;
    auto acquired = core_.files->acquire(dev, ino);
    if (!acquired) {
        core_.log.error("dropping the cached data of an unlinked file: {}", acquired.error().message);
        return;
    }
    FileRef file(*core_.files, std::move(acquired).value());
    std::unique_lock<std::mutex> wl;
    if (file) {
        wl = std::unique_lock(file->write_lock);
        // Open elsewhere (more opens than this one): the data lives on.
        if (core_.files->opens(*file) > 1) {
            if (auto st = parts_->writeback->write_back_orphan_locked(*file); !st)
                core_.log.error(
                    "writing back the dirty data of a file unlinked while open: {}; its handles read the "
                    "backing file without it",
                    st.error().message);
        }
    }
    auto dropped = core_.files->unlinked(dev, ino, file.get());
    if (dropped) {
        core_.add_dirty(-static_cast<std::int64_t>(dropped.value()));
        core_.gc_requests->note_change();
    } else {
        core_.log.error("dropping the cached data of an unlinked file: {}", dropped.error().message);
    }
}

Result<bool> CacheSet::metadata_changed(const struct statx& before, const struct statx& after) {
    if (core_.closing.load(std::memory_order_acquire)) return false;
    return core_.files->metadata_changed(before, after);
}

Result<std::uint64_t> CacheSet::cached_bytes(std::uint64_t dev, std::uint64_t ino) {
    return core_.file_bytes(dev, ino, [this](const Extent& e) {
        for (unsigned i = 0; i < e.value.nptrs(); ++i) {
            const ExtentPtr p = e.value.ptr(i);
            if (p.device < core_.alloc->ndevices() && !core_.alloc->device(p.device).ptr_stale(p.bucket, p.gen))
                return true;
        }
        return false;
    });
}

Result<std::uint64_t> CacheSet::dirty_bytes(std::uint64_t dev, std::uint64_t ino) {
    return core_.file_bytes(dev, ino, [](const Extent& e) { return e.value.dirty(); });
}

}  // namespace bcl
