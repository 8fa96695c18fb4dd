// The writeback tunables, named and defaulted as bcache's sysfs files of
// the same names, and the state of the writeback rate controller.
//
// Rate control (bcache's __update_writeback_rate): every
// kWritebackRateUpdate the controller compares the dirty data with its
// target, writeback_percent of the cache's data capacity. The new rate is
// proportional + integral, clamped to [writeback_rate_minimum, 1 GiB/s]:
// proportional = (dirty - target) / 40 per second; integral sums
// (dirty - target) * update seconds and contributes a ten-thousandth of it,
// and only grows while the rate is not already limited (anti-windup) and
// only shrinks while it is positive. Below the target the rate falls to
// the minimum, so writeback trickles and the cache keeps absorbing writes.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>

#include "bcachefs_lite/util/error.h"

namespace bcl {

inline constexpr std::chrono::seconds kWritebackRateUpdate{5};
// The fastest the controller (not a flush) writes back, in bytes/s: 1 GiB/s.
inline constexpr std::uint64_t kWritebackRateMax = std::uint64_t{1} << 30;

struct WritebackTunables {
    // Percent of the cache's data capacity that writeback aims to keep
    // dirty; 0..40 (bcache's limit: the writeback cutoff). Default: 10.
    unsigned writeback_percent = 10;
    // How long dirty data waits before writeback starts when the cache held
    // none before (bcache's writeback_delay). Default: 30 s.
    std::chrono::seconds writeback_delay{30};
    // The slowest writeback runs while anything is dirty, in bytes/s;
    // 512 .. kWritebackRateMax. Default: 4096 (bcache's 8 sectors/s).
    std::uint64_t writeback_rate_minimum = 4096;
    // Whether dirty data is written back at all; a flush runs regardless.
    // Default: true.
    bool writeback_running = true;
    // Percent of the cache's capacity dirty above which writes that are not
    // synchronous (O_SYNC, O_DSYNC) go to the backing file instead of being
    // cached dirty; 1..100. Default: 40.
    unsigned cutoff_writeback = 40;
    // Percent dirty above which every write goes to the backing file;
    // cutoff_writeback..100. Default: 70.
    unsigned cutoff_writeback_sync = 70;

    bool operator==(const WritebackTunables&) const = default;
};

// Errc::invalid with one line naming the tunable that is out of range.
Status validate(const WritebackTunables& tunables);

// What writeback is doing now (the writeback_rate_debug of bcache).
struct WritebackStatus {
    std::uint64_t dirty = 0;        // bytes of dirty data in the cache
    std::uint64_t target = 0;       // bytes: writeback_percent of the capacity
    std::uint64_t rate = 0;         // bytes/s the controller allows now
    std::int64_t proportional = 0;  // bytes/s, the P term
    std::int64_t integral = 0;      // bytes/s, the I term
    bool running = false;           // writeback_running
    bool flushing = false;          // a flush is writing everything back at full speed
};

}  // namespace bcl
