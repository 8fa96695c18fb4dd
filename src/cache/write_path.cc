// CacheSet: writes, truncate and fallocate in writethrough. The backing
// file is changed first; then, under the file's mutex, write_seq is bumped,
// the changed blocks leave the index and the record follows the file.
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "file_table.h"

namespace bcl {

namespace {

Result<struct statx> statx_of(int fd) {
    struct statx stx;
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0)
        return sys_error(errno, "statx of the backing file");
    return stx;
}

std::int64_t ns_of(const struct statx_timestamp& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

Status CacheSet::invalidate_locked(CachedFile& file, const struct statx& stx, std::uint64_t start,
                                   std::uint64_t end) {
    file.write_seq.fetch_add(1, std::memory_order_acq_rel);
    if (file.bypass || file.record.file_id == 0) return ok();
    const std::uint64_t lo = round_down(start, block_size_);
    const std::uint64_t hi = end >= UINT64_MAX - block_size_ ? UINT64_MAX : round_up(end, block_size_);
    FileRecord rec = file.record;
    rec.size = stx.stx_size;
    rec.mtime_ns = ns_of(stx.stx_mtime);
    rec.ctime_ns = ns_of(stx.stx_ctime);
    IndexBatch batch;
    if (lo < hi) batch.remove_range(rec.file_id, lo, hi);
    batch.put_file(file.identity, rec);
    auto committed = index_->commit(batch, false);
    if (!committed) {
        // The old blocks may still be indexed: never read this file from
        // the cache again while it is open; its record no longer matches the
        // file, so the next open starts it afresh.
        file.bypass = true;
        return committed.error();
    }
    std::uint64_t sectors = 0;
    for (const ExtentOverwrite& o : committed.value().overwrites) sectors += o.removed.value.length / kSectorSize;
    counters_.sectors_overwritten.fetch_add(sectors, std::memory_order_relaxed);
    file.record = rec;
    return ok();
}

Status CacheSet::revalidate(CachedFile& file, int fd) {
    auto stx = statx_of(fd);
    if (!stx) return stx.error();
    std::lock_guard lk(file.mutex);
    return files_->check_coherent_locked(file, stx.value());
}

Status CacheSet::written(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end) {
    auto stx = statx_of(fd);
    std::lock_guard lk(file.mutex);
    if (!stx) {
        file.write_seq.fetch_add(1, std::memory_order_acq_rel);
        file.bypass = true;
        return stx.error();
    }
    if (auto st = invalidate_locked(file, stx.value(), start, end); !st) {
        log_.error("cache invalidation after a write failed; bypassing the cache for the file: {}",
                   st.error().message);
        return st.error();
    }
    return ok();
}

Result<std::size_t> CacheSet::write(CachedFile& file, int fd, std::uint64_t offset, std::span<const std::byte> data) {
    BCL_TRY(revalidate(file, fd));
    std::size_t done = 0;
    int err = 0;
    while (done < data.size()) {
        const ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno;
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    // Even a failed write may have changed part of the range.
    BCL_TRY(written(file, fd, offset, offset + data.size()));
    if (err != 0 && done == 0) return sys_error(err, "write of the backing file");
    return done;
}

Status CacheSet::truncate(CachedFile* open, int fd, std::uint64_t size) {
    auto before = statx_of(fd);
    if (!before) return before.error();
    // A file not open through the mount gets a passing state for the call.
    std::shared_ptr<CachedFile> passing;
    if (!open) {
        auto f = files_->open(before.value());
        if (!f) return f.error();
        passing = std::move(f).value();
        open = passing.get();
    } else {
        BCL_TRY(revalidate(*open, fd));
    }
    struct Release {
        CacheSet* set;
        std::shared_ptr<CachedFile>& f;
        ~Release() { set->release_file(f); }
    } release{this, passing};

    int r = ::ftruncate(fd, static_cast<off_t>(size));
    if (r != 0 && errno == EBADF) {
        // An O_PATH descriptor: truncate the file it names.
        char path[40];
        std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        r = ::truncate(path, static_cast<off_t>(size));
    }
    const int err = r != 0 ? errno : 0;
    std::uint64_t old_size;
    {
        std::lock_guard lk(open->mutex);
        old_size = open->record.size;
    }
    BCL_TRY(written(*open, fd, std::min(size, old_size), UINT64_MAX));
    if (err != 0) return sys_error(err, "truncate of the backing file");
    return ok();
}

Status CacheSet::fallocate(CachedFile& file, int fd, int mode, std::uint64_t offset, std::uint64_t length) {
    BCL_TRY(revalidate(file, fd));
    const int r = ::fallocate(fd, mode, static_cast<off_t>(offset), static_cast<off_t>(length));
    const int err = r != 0 ? errno : 0;
    std::uint64_t start = offset, end = offset;
    if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) {
        end = UINT64_MAX;  // everything after offset moved
    } else if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
        end = offset + length < offset ? UINT64_MAX : offset + length;
    }
    BCL_TRY(written(file, fd, start, end));
    if (err != 0) return sys_error(err, "fallocate of the backing file");
    return ok();
}

}  // namespace bcl
