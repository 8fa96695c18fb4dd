// Pins' background work (pin/fetch.h): fetching what a pinned
// file lacks into pinned buckets, and walking a pinned directory's
// contents. Each step is bounded (pin_fetch_step_bytes of data, or
// kPinWalkEntries directory entries) and runs on the backing strand
// (background.h); jobs take
// turns, so one big file does not hold up the others.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "bcachefs_lite/cache/pins.h"
#include "core/core.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "files/backing_file_io.h"
#include "files/file_table.h"
#include "pin/fetch.h"

namespace bcl {
namespace {

// Directory entries one walk step looks at.
constexpr int kPinWalkEntries = 64;
// Fetch steps in a row that may cache nothing (no free bucket yet, a write
// racing with the fetch) before the fetch gives up until the file is
// opened or pinned again.
constexpr unsigned kPinFetchIdleSteps = 16;

// The first range from `next` (rounded down to a block) that the cache does
// not hold, as `held` tells of each of `extents` (the file's from `next`
// on): [pos, end), at most `step` bytes and at least one block, up to
// where held data starts again. pos >= size when the rest is held.
struct FetchGap {
    std::uint64_t pos, end;
};
template <class Held>
FetchGap first_gap(const std::vector<Extent>& extents, std::uint64_t next, std::uint64_t size, std::uint64_t block,
                   std::uint64_t step, const Held& held) {
    std::uint64_t pos = round_down(next, block);
    std::size_t i = 0;
    for (; i < extents.size(); ++i) {
        if (extents[i].start() > pos || !held(extents[i])) break;
        pos = std::max(pos, extents[i].end());
    }
    if (pos >= size) return {pos, pos};
    std::uint64_t end = std::min(round_up(size, block), pos + step);
    for (; i < extents.size(); ++i) {
        if (extents[i].start() > pos && held(extents[i])) {
            end = std::min(end, round_down(extents[i].start(), block));
            break;
        }
    }
    return {pos, std::max(end, pos + block)};
}

}  // namespace

void Pins::queue_pin_job(std::shared_ptr<CachedFile> file, int fd, bool pin, const FileIdentity& walk_id) {
    bool duplicate = false;
    {
        std::lock_guard lk(queue_->mutex);
        if (file && !queue_->queued_ids.insert(file->identity).second) {
            duplicate = true;
        } else {
            PinJob job;
            job.file = file;
            job.fd = fd;
            job.pin = pin;
            job.walk_id = walk_id;
            queue_->jobs.push_back(std::move(job));
        }
    }
    if (duplicate) {
        core_.files->release(file);
        ::close(fd);
        return;
    }
    pin_fetch_kick();
}

void Pins::resume_pin_fetch(const std::shared_ptr<CachedFile>& file, int fd) {
    {
        std::lock_guard lk(file->mutex);
        if (file->bypass || !file->record.pinned()) return;
    }
    {
        std::lock_guard lk(queue_->mutex);
        if (queue_->queued_ids.count(file->identity) != 0) return;
    }
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    const int own = ::open(proc.c_str(), O_RDONLY | O_CLOEXEC);
    if (own < 0) {
        core_.log.debug("cannot reopen a pinned file to fetch it: {}", std::strerror(errno));
        return;
    }
    auto acquired = core_.files->acquire(file->identity.dev, file->identity.ino);
    if (!acquired || acquired.value() != file) {
        if (acquired && acquired.value()) core_.files->release(acquired.value());
        ::close(own);
        return;
    }
    queue_pin_job(file, own, true);
}

void Pins::pin_fetch_kick() {
    if (core_.closing.load(std::memory_order_acquire) || queue_->kicked.exchange(true, std::memory_order_acq_rel))
        return;
    boost::asio::post(core_.background->backing_strand(), [this] {
        queue_->kicked.store(false, std::memory_order_release);
        if (core_.closing.load(std::memory_order_acquire)) return;
        if (pin_fetch_step()) pin_fetch_kick();
    });
}

bool Pins::pin_fetch_step() {
    PinJob job;
    {
        std::lock_guard lk(queue_->mutex);
        if (queue_->jobs.empty()) return false;
        job = std::move(queue_->jobs.front());
        queue_->jobs.pop_front();
    }
    const bool more = job.file ? fetch_pinned_file(job) : job.resume ? resume_pins_step(job) : walk_pinned_dir(job);
    std::shared_ptr<CachedFile> done_file;
    bool left;
    {
        std::lock_guard lk(queue_->mutex);
        if (more && !core_.closing.load(std::memory_order_acquire)) {
            queue_->jobs.push_back(std::move(job));
            return true;
        }
        done_file = std::move(job.file);
        if (done_file) queue_->queued_ids.erase(done_file->identity);
        left = !queue_->jobs.empty();
    }
    PinQueue::close_job(job);
    if (done_file) core_.files->release(done_file);
    return left;
}

bool Pins::fetch_pinned_file(PinJob& job) {
    CachedFile& file = *job.file;
    if (!core_.in_service()) return false;
    // A change behind the cache's back renews the file id (the pin stays)
    // and bumps write_seq before it is sampled below: the old data is
    // never fetched into the new id.
    if (!core_.revalidate(file, job.fd)) return false;
    const std::uint64_t seq = file.write_seq.load(std::memory_order_acquire);
    std::uint64_t file_id, size;
    {
        std::lock_guard lk(file.mutex);
        if (file.bypass || !file.record.pinned()) return false;
        file_id = file.record.file_id;
        size = file.record.size;
    }
    if (job.file_id != file_id) {
        job.file_id = file_id;
        job.next = 0;
    }
    if (job.next >= size) return false;
    auto found = core_.index->lookup(file_id, job.next, size);
    if (!found) {
        core_.log.warn("fetch of a pinned file stopped: {}", found.error().message);
        return false;
    }
    // Held: pinned data whose bucket is still its, and dirty data (its only
    // copy; it is never invalidated either). Anything else is fetched again.
    const auto held = [&](const Extent& e) {
        if (e.value.dirty()) return true;
        if (!e.value.pinned() || e.value.device >= core_.alloc->ndevices()) return false;
        const CacheAllocator& ca = core_.alloc->device(e.value.device);
        return e.value.bucket < ca.geometry().nbuckets && ca.bucket(e.value.bucket).gen == e.value.gen;
    };
    const auto [pos, gap_end] =
        first_gap(found.value(), job.next, size, core_.block_size, round_up(fetch_step_bytes_, core_.block_size), held);
    if (pos >= size) {
        job.next = size;
        return false;
    }
    if (core_.counters.pinned_bytes.load(std::memory_order_relaxed) + (gap_end - pos) > core_.pin_limit_bytes()) {
        core_.log.warn("fetch of a pinned file stopped at {} of {} bytes: pin_limit_percent={} reached", pos, size,
                       pin_limit_percent());
        return false;
    }
    AlignedBuffer buf(gap_end - pos);  // zeroed: the padding past end of file
    auto n = pread_full(job.fd, buf.data(), gap_end - pos, pos);
    if (!n) {
        core_.log.warn("fetch of a pinned file stopped: {}", n.error().message);
        return false;
    }
    if (n.value() == 0) return false;  // shorter than its record: the next revalidation sees it
    const std::uint64_t len = round_up(n.value(), core_.block_size);
    const std::uint64_t got = core_.insert_clean(file, file_id, seq, pos, buf.span().first(len), /*pinned_only=*/true);
    if (got == 0) return ++job.idle_steps < kPinFetchIdleSteps;
    job.idle_steps = 0;
    job.next = pos + got;
    return job.next < size;
}

bool Pins::walk_pinned_dir(PinJob& job) {
    if (job.dir == nullptr) {
        job.dir = ::fdopendir(job.fd);
        if (job.dir == nullptr) {
            core_.log.warn("cannot walk a pinned directory: {}", std::strerror(errno));
            return false;
        }
    }
    const int dfd = ::dirfd(job.dir);
    struct statx dir_stx {};
    if (::statx(dfd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &dir_stx) != 0) return false;
    // The entries' records go in unsynced; one sync at the end of the step
    // makes them durable together, so a crash loses at most this step's,
    // which the pending walk redoes at mount.
    int recorded = 0;
    const auto sync_recorded = [&] {
        if (recorded == 0) return;
        if (auto st = core_.index->sync(); !st) core_.log.warn("walk of a pinned directory: {}", st.error().message);
    };
    for (int n = 0; n < kPinWalkEntries; ++n) {
        errno = 0;
        const dirent* d = ::readdir(job.dir);
        if (d == nullptr) {
            sync_recorded();
            if (errno != 0) {
                core_.log.warn("walk of a pinned directory stopped: {}", std::strerror(errno));
            } else {
                finish_pin_walk(job);
            }
            return false;
        }
        if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) continue;
        // O_PATH | O_NOFOLLOW: a symlink is looked at, never followed.
        const int efd = ::openat(dfd, d->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (efd < 0) continue;
        struct statx stx {};
        const bool stated =
            ::statx(efd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx) == 0;
        const unsigned type = stx.stx_mode & S_IFMT;
        // Another file system mounted below is not the backing directory's.
        const bool same_fs = stx.stx_dev_major == dir_stx.stx_dev_major && stx.stx_dev_minor == dir_stx.stx_dev_minor;
        if (stated && same_fs && (type == S_IFREG || type == S_IFDIR)) {
            if (auto st = pin_entry(efd, stx, job.pin, /*sync=*/false); st) {
                ++recorded;
            } else if (st.error().code != Errc::no_space) {
                core_.log.warn("{} {}: {}", job.pin ? "pinning" : "unpinning", d->d_name, st.error().message);
            }
        }
        ::close(efd);
    }
    sync_recorded();
    return true;
}

void Pins::finish_pin_walk(const PinJob& job) {
    if (job.walk_id.dev == 0 && job.walk_id.ino == 0) return;
    auto stored = core_.index->get_file(job.walk_id);
    if (!stored) {
        core_.log.warn("walk of a pinned directory: {}", stored.error().message);
        return;
    }
    const bool pinned_now =
        stored.value() && stored.value()->btime_ns == job.walk_id.btime_ns && stored.value()->pinned();
    if (pinned_now != job.pin) return;
    // Unsynced: should a crash keep the record, the walk is redone, which
    // changes nothing.
    IndexBatch batch;
    batch.delete_pinned_file(job.walk_id.dev, job.walk_id.ino);
    if (auto committed = core_.index->commit(batch, false); !committed)
        core_.log.warn("walk of a pinned directory: {}", committed.error().message);
}

void Pins::drop_pin_jobs() {
    if (!queue_) return;
    std::deque<PinJob> jobs;
    {
        std::lock_guard lk(queue_->mutex);
        jobs.swap(queue_->jobs);
        queue_->queued_ids.clear();
    }
    for (PinJob& job : jobs) {
        if (job.file) core_.files->release(job.file);
        PinQueue::close_job(job);
    }
}

}  // namespace bcl
