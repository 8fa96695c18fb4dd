// PinQueue: the queue of background pinning work. A job is
// either the fetch of a pinned regular file (its state registered as one
// more open, a readable descriptor of it, and how far the fetch got) or the
// walk of a directory being pinned or unpinned (its descriptor, read with
// getdents through a DIR stream). Jobs run on the backing strand, one bounded step
// at a time; a directory walk queues the subdirectories it finds as jobs of
// their own, so a deep tree never deepens the stack. A third kind, queued
// once at open, goes through the pinned-file records (pin/resume.cc) and
// queues a fetch or a walk for each.
//
// Thread safety: mutex guards jobs and queued_ids; `kicked` is set by whoever
// posts a step and cleared by the step.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>

#include "bcachefs_lite/cache/cached_file.h"
#include "bcachefs_lite/index/file_format.h"

namespace bcl {

struct PinJob {
    std::shared_ptr<CachedFile> file;  // null for a directory walk
    int fd = -1;                       // owned until `dir` takes it
    DIR* dir = nullptr;                // a walk's stream, opened at its first step
    bool pin = true;                   // a walk pins (true) or unpins what it finds
    std::uint64_t file_id = 0;         // a fetch: the file id `next` belongs to
    std::uint64_t next = 0;            // a fetch: the offset it goes on from
    unsigned idle_steps = 0;           // a fetch: steps in a row that cached nothing
    FileIdentity walk_id{};            // a walk with a pinned-file record: its directory
    bool resume = false;               // the pass over the pinned-file records
    std::uint64_t resume_dev = 0;      // the pass: the key it goes on from
    std::uint64_t resume_ino = 0;
    bool resume_done = false;  // the pass: no key after the last one
};

struct PinQueue {
    using Job = PinJob;

    PinQueue() = default;
    PinQueue(const PinQueue&) = delete;
    PinQueue& operator=(const PinQueue&) = delete;
    ~PinQueue() {
        for (Job& j : jobs) close_job(j);
    }
    static void close_job(Job& j) {
        if (j.dir != nullptr) {
            ::closedir(j.dir);
        } else if (j.fd >= 0) {
            ::close(j.fd);
        }
        j.dir = nullptr;
        j.fd = -1;
    }

    std::mutex mutex;
    std::deque<Job> jobs;               // guarded by mutex
    std::set<FileIdentity> queued_ids;  // guarded by mutex: files with a fetch job
    std::atomic<bool> kicked{false};
};

}  // namespace bcl
