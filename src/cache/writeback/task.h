// The writeback task's state (see writeback/task.cc).
//
// Thread safety: the timers, `armed`, `step_at`, `cursor`, `keeping_up`,
// `failures`, `evacuating` and `unreadable` belong to the background's
// backing strand (background.h); `rate` is guarded by Writeback's tunables
// mutex.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>

#include "bcachefs_lite/cache/background.h"
#include "writeback/rate.h"

namespace bcl {

struct WritebackTask {
    WritebackTask(Background& bg, std::uint64_t rate_minimum)
        : step_timer(bg.backing_strand()), rate_timer(bg.backing_strand()), rate(rate_minimum) {}
    // Strand only:
    boost::asio::steady_timer step_timer;
    boost::asio::steady_timer rate_timer;
    bool armed = false;  // step_timer waits for a step at step_at
    std::chrono::steady_clock::time_point step_at;
    std::uint64_t cursor = 0;      // the next file id to look at
    bool keeping_up = true;        // every step since the last rate update took no longer than its share
    bool evacuating = false;       // the pass after a device failure runs (health/io_errors.cc)
    std::uint64_t unreadable = 0;  // dirty bytes that pass could not read
    unsigned failures = 0;         // steps in a row that failed (the retry delay doubles with each)
    // Guarded by Writeback::tunables_mutex_ (written on the backing strand):
    WritebackRate rate;
};

}  // namespace bcl
