// The counts beside the index that several parts keep: dirty bytes,
// overwritten and pinned data; and the check of an open file against its
// record.
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "core/core.h"
#include "files/backing_stat.h"

namespace bcl {

std::uint64_t CacheCore::dirty_bytes() const {
    const std::int64_t v = dirty_counted.load(std::memory_order_acquire);
    return v > 0 ? static_cast<std::uint64_t>(v) : 0;
}

bool CacheCore::may_hold_dirty() const {
    return dirty_seen.load(std::memory_order_acquire) || dirty_counted.load(std::memory_order_acquire) != 0;
}

void CacheCore::add_dirty(std::int64_t bytes) {
    if (bytes > 0) dirty_seen.store(true, std::memory_order_release);
    dirty_counted.fetch_add(bytes, std::memory_order_acq_rel);
}

void CacheCore::account_overwrites(const std::vector<ExtentOverwrite>& overwrites) {
    std::uint64_t sectors = 0;
    std::int64_t dirty = 0;
    std::uint64_t pinned = 0;
    for (const ExtentOverwrite& o : overwrites) {
        sectors += o.removed.value.length / kSectorSize;
        if (o.removed.value.dirty()) dirty += static_cast<std::int64_t>(o.removed.value.length);
        if (o.removed.value.pinned()) pinned += o.removed.value.length;
    }
    if (pinned != 0) {
        // Saturating: the count is an estimate between GC passes.
        std::uint64_t now = counters.pinned_bytes.load(std::memory_order_relaxed);
        while (
            !counters.pinned_bytes.compare_exchange_weak(now, now - std::min(now, pinned), std::memory_order_relaxed)) {
        }
    }
    counters.sectors_overwritten.fetch_add(sectors, std::memory_order_relaxed);
    if (dirty != 0) add_dirty(-dirty);
    if (sectors != 0) gc_requests->note_change();
}

std::uint64_t CacheCore::pin_limit_bytes() const {
    return capacity_bytes / 100 * pin_limit_percent.load(std::memory_order_relaxed);
}

Result<std::uint64_t> CacheCore::file_bytes(std::uint64_t dev, std::uint64_t ino,
                                            const std::function<bool(const Extent&)>& counts) {
    auto found = files->id_and_size(dev, ino);
    if (!found) return found.error();
    if (!found.value()) return 0;
    const auto [id, size] = *found.value();
    if (id == 0 || size == 0) return 0;
    auto extents = index->lookup(id, 0, size);
    if (!extents) return extents.error();
    std::uint64_t bytes = 0;
    for (const Extent& e : extents.value())
        if (counts(e)) bytes += std::min(e.end(), size) - e.start();
    return bytes;
}

Result<int> CacheCore::rw_fd_locked(CachedFile& file, int fd) {
    if (file.rw_fd >= 0) return file.rw_fd;
    char path[40];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    const int rw = ::open(path, O_RDWR | O_CLOEXEC);
    if (rw < 0) return sys_error(errno, "reopening the backing file for writing back");
    file.rw_fd = rw;
    return rw;
}

Status CacheCore::revalidate(CachedFile& file, int fd) {
    auto stx = statx_of(fd);
    if (!stx) return stx.error();
    std::lock_guard lk(file.mutex);
    return files->check_coherent_locked(file, stx.value(), fd);
}

}  // namespace bcl
