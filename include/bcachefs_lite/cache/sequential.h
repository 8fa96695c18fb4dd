// Sequential I/O detection and cache device congestion, as bcache's
// check_should_bypass() and bch_get_congested() decide that an I/O skips
// the cache.
//
// SequentialDetector remembers the kSequentialStreams most recent I/O
// streams of files, each with the ground it has covered (its run and the
// pieces read out of order near it, sequential_stream.h) and when it
// expires (kSequentialExpiry after its last I/O). An I/O that lands within
// a live stream's window of its run's end continues that stream (the
// nearest, when several could), and the run grows by the new ground it
// covers; any other takes the least recently used stream and starts a new
// run of its own bytes. bcache continues a run only at its exact end; here
// the requests of one sequential reader come out of order (readahead in
// flight, several FUSE worker threads), and a run that restarted at every
// such swap would never reach the cutoff.
//
// bcache keeps, per task, a decaying average of the runs the task has made
// (an EWMA of weight 8, updated with the task's last run each time the task
// starts a new one), so that a task that reads file after file sequentially
// bypasses from the first I/O of the next file. The engine's callers carry
// no task: the "writer" here is whatever the caller names in
// ReadFlags::writer / WriteFlags::writer; the FUSE layer passes one id per
// open file handle. A handle that has read large files one after another
// is not caught early (each open is a new writer), but every run longer
// than the cutoff still is. The writers' averages live in a table of
// kSequentialWriters entries; the least recently seen one is forgotten when
// a new writer comes. Writer 0 means "no writer": the run alone decides.
//
// An I/O bypasses when max(its stream's run, its writer's average) >=
// sequential_cutoff; a cutoff of 0 turns bypass off (and nothing is
// recorded, as bcache skips the bookkeeping).
//
// CongestionMeter keeps an EWMA (weight 8, from 0) of the time cache device
// reads and writes take, so one slow request alone (the first read of a
// cold device, a scheduling hiccup) does not stop inserts. The device is congested
// while an average is above its threshold (congested_read_threshold_us,
// congested_write_threshold_us; 0 disables one) and the last sample of that
// kind is less than kCongestionHold old. The hold lets the state lapse
// when nothing is measured any more (inserts are what measure writes, and a
// congested cache skips them): the next insert after it is tried, and its
// time decides again, as bcache's congestion decays with time.
//
// Times are given explicitly (tests drive them); the engine passes
// steady_clock::now().
//
// Thread safety: both classes lock an internal mutex in every call.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "bcachefs_lite/cache/sequential_stream.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

using SeqClock = std::chrono::steady_clock;

inline constexpr std::size_t kSequentialStreams = 128;  // bcache's RECENT_IO
inline constexpr std::size_t kSequentialWriters = 128;
inline constexpr std::chrono::milliseconds kSequentialExpiry{5000};
inline constexpr std::chrono::milliseconds kCongestionHold{1000};

// The bypass tunables, with bcache's names and defaults.
struct BypassTunables {
    // Bytes; 0 disables sequential bypass. At most 4 GiB - 1. Default: 4 MiB.
    std::uint64_t sequential_cutoff = 4 << 20;
    // Microseconds; 0 disables the check of that kind. Default: 2000, 20000.
    unsigned congested_read_threshold_us = 2000;
    unsigned congested_write_threshold_us = 20000;

    bool operator==(const BypassTunables&) const = default;
};

inline constexpr std::uint64_t kMaxSequentialCutoff = 0xffffffffu;

// Errc::invalid with one line naming the tunable out of range.
Status validate(const BypassTunables& tunables);

// bcache's ewma_add with factor 0: avg * (weight - 1) / weight + val / weight.
std::uint64_t sequential_ewma(std::uint64_t avg, std::uint64_t val);

class SequentialDetector {
public:
    SequentialDetector();

    // Records an I/O of `length` bytes at `offset` of file `file_id` by
    // `writer` at time `now` and says whether it bypasses under `cutoff`.
    bool check(std::uint64_t file_id, std::uint64_t offset, std::uint64_t length, std::uint64_t writer,
               SeqClock::time_point now, std::uint64_t cutoff);

    // For tests: the run of the stream whose run ends at (file_id, end) and
    // is live at `now`, 0 when none; a writer's average, 0 when unknown.
    std::uint64_t run_at(std::uint64_t file_id, std::uint64_t end, SeqClock::time_point now) const;
    std::uint64_t writer_average(std::uint64_t writer) const;

private:
    struct Stream {
        std::uint64_t file_id = 0;
        SequentialStream ground;
        SeqClock::time_point expires{};  // epoch: never used
        std::uint64_t last_use = 0;      // of use_, for the LRU
    };
    struct Writer {
        std::uint64_t id = 0;       // 0: free
        std::uint64_t run = 0;      // the run of its last I/O
        std::uint64_t average = 0;  // EWMA of its runs
        std::uint64_t last_use = 0;
    };

    Writer& writer_locked(std::uint64_t id);
    // The live stream of file_id that [offset, offset + length) continues,
    // nearest first; nullptr when none.
    Stream* continued_locked(std::uint64_t file_id, std::uint64_t offset, std::uint64_t length, std::uint64_t limit,
                             SeqClock::time_point now);

    mutable std::mutex mutex_;
    std::uint64_t use_ = 0;  // ticks on every I/O
    std::array<Stream, kSequentialStreams> streams_{};
    std::array<Writer, kSequentialWriters> writers_{};
};

enum class CacheIo : std::uint8_t { read, write };

class CongestionMeter {
public:
    // A cache device request of `kind` took `took`, ending at `now`.
    void record(CacheIo kind, std::chrono::microseconds took, SeqClock::time_point now);
    // Whether inserts should be skipped at `now` under `tunables`.
    bool congested(const BypassTunables& tunables, SeqClock::time_point now) const;
    // For tests: the average of a kind in microseconds, 0 before a sample.
    std::uint64_t average_us(CacheIo kind) const;

private:
    struct Kind {
        bool sampled = false;
        std::uint64_t average_us = 0;
        SeqClock::time_point last{};
    };
    mutable std::mutex mutex_;
    Kind kinds_[2];
};

}  // namespace bcl
