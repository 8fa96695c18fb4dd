// Pins: resuming pins at open: a pass over the pinned-file
// records (index_format.h), a bounded number per step on the backing strand, that
// reopens each file by handle and queues its fetch (which finds what an
// interrupted fetch, or the first GC pass after an unclean shutdown, left
// out), or redoes the walk of a directory that had not completed. A record
// whose file is gone, or whose handle now names another file, is dropped.
#include <fcntl.h>
#include <unistd.h>

#include "bcachefs_lite/cache/pins.h"
#include "core/core.h"
#include "files/backing_stat.h"
#include "files/file_handle.h"
#include "files/file_table.h"
#include "pin/fetch.h"

namespace bcl {
namespace {

// Pinned-file records one step of the pass looks at.
constexpr int kPinResumeRecords = 64;

}  // namespace

void Pins::queue_pin_resume() {
    // Without working handles no record was written.
    if (!core_.writeback_possible) return;
    {
        std::lock_guard lk(queue_->mutex);
        PinJob job;
        job.resume = true;
        queue_->jobs.push_back(std::move(job));
    }
    pin_fetch_kick();
}

bool Pins::resume_pins_step(PinJob& job) {
    if (!core_.in_service()) return false;
    for (int n = 0; n < kPinResumeRecords && !job.resume_done; ++n) {
        auto next = core_.index->next_pinned_file(job.resume_dev, job.resume_ino);
        if (!next) {
            core_.log.warn("resuming pinned files stopped: {}", next.error().message);
            return false;
        }
        if (!next.value()) return false;
        const Index::PinnedFileEntry& entry = *next.value();
        // The key after this one, in (dev, ino) order.
        if (entry.ino != UINT64_MAX) {
            job.resume_dev = entry.dev;
            job.resume_ino = entry.ino + 1;
        } else if (entry.dev != UINT64_MAX) {
            job.resume_dev = entry.dev + 1;
            job.resume_ino = 0;
        } else {
            job.resume_done = true;
        }
        if (entry.record) {
            resume_pin_record(*entry.record);
        } else {
            // Useless as it is; the pin itself is in the file's record, and
            // an open of the file still resumes its fetch.
            drop_pin_record(entry.dev, entry.ino, entry.problem);
        }
    }
    return !job.resume_done;
}

void Pins::resume_pin_record(const DirtyFileRecord& record) {
    auto opened = open_file_handle(core_.root_fd, record, O_RDONLY);
    if (!opened) {
        if (opened.error().code == Errc::not_found) {
            drop_pin_record(record.dev, record.ino, "it was deleted");
        } else {
            // Kept: the next mount tries again.
            core_.log.warn("cannot resume the pin of (dev {}, ino {}): {}", record.dev, record.ino,
                           opened.error().message);
        }
        return;
    }
    const int fd = opened.value();
    auto stx = statx_of(fd);
    const FileIdentity recorded{record.dev, record.ino, record.btime_ns};
    if (!stx || identity_of(stx.value()) != recorded) {
        ::close(fd);
        drop_pin_record(record.dev, record.ino, "its handle names another file now");
        return;
    }
    const unsigned type = stx.value().stx_mode & S_IFMT;
    if (type == S_IFDIR) {
        // A walk that had not completed: the directory's own record says
        // whether it pinned or unpinned.
        auto stored = core_.index->get_file(recorded);
        if (!stored) {
            ::close(fd);
            core_.log.warn("cannot resume the walk of (dev {}, ino {}): {}", record.dev, record.ino,
                           stored.error().message);
            return;
        }
        const bool pinned = stored.value() && stored.value()->btime_ns == recorded.btime_ns && stored.value()->pinned();
        queue_pin_job(nullptr, fd, pinned, recorded);
        return;
    }
    if (type != S_IFREG) {
        ::close(fd);
        drop_pin_record(record.dev, record.ino, "it is neither a regular file nor a directory");
        return;
    }
    auto file = core_.files->open(stx.value(), fd);
    if (!file) {
        ::close(fd);
        core_.log.warn("cannot resume the pin of (dev {}, ino {}): {}", record.dev, record.ino, file.error().message);
        return;
    }
    bool pinned;
    {
        std::lock_guard lk(file.value()->mutex);
        pinned = !file.value()->bypass && file.value()->record.pinned();
    }
    if (!pinned) {
        core_.files->release(file.value());
        ::close(fd);
        drop_pin_record(record.dev, record.ino, "it is no longer pinned");
        return;
    }
    queue_pin_job(std::move(file).value(), fd, true);
}

void Pins::drop_pin_record(std::uint64_t dev, std::uint64_t ino, std::string_view why) {
    core_.log.info("dropping the pin record of (dev {}, ino {}): {}", dev, ino, why);
    IndexBatch batch;
    batch.delete_pinned_file(dev, ino);
    if (auto committed = core_.index->commit(batch, false); !committed)
        core_.log.warn("dropping the pin record of (dev {}, ino {}): {}", dev, ino, committed.error().message);
}

}  // namespace bcl
