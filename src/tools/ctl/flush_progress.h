// FlushProgress: the figures `bcachefs-lite-ctl flush` shows while dirty
// data is written back: the bytes still dirty, the rate they fall at, and
// the time left at that rate. It is fed one sample per poll of the mount's
// dirty_data and renders either a bar for a terminal (redrawn in place) or
// a plain line for logs and pipes.
//
// The rate is measured over the samples of the last kRateWindow, so that
// one slow or fast poll does not swing the estimate; while dirty data grows
// (writes outpace writeback) there is no rate and no time left to show.
//
// Thread safety: a value used by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace bcl::ctl {

class FlushProgress {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds kRateWindow{3};
    static constexpr std::size_t kBarWidth = 30;

    // One reading of dirty_data at `when`.
    void sample(Clock::time_point when, std::uint64_t dirty);

    std::uint64_t dirty() const { return samples_.empty() ? 0 : samples_.back().dirty; }
    // The most ever seen dirty: what the bar counts down from.
    std::uint64_t peak() const { return peak_; }
    // Bytes per second written back, or nullopt while unknown (fewer than
    // two samples, or dirty data not falling).
    std::optional<double> rate() const;
    // Time left at rate(), or nullopt when the rate is unknown.
    std::optional<std::chrono::seconds> time_left() const;

    // "[#########.....]  12.3MiB dirty  45.6MiB/s  0:03 left"
    std::string bar_line() const;
    // "12.3MiB dirty, 45.6MiB/s, 0:03 left"
    std::string plain_line() const;

private:
    struct Sample {
        Clock::time_point when;
        std::uint64_t dirty;
    };
    std::string figures(const char* separator) const;

    std::deque<Sample> samples_;  // the last kRateWindow, oldest first
    std::uint64_t peak_ = 0;
};

// "0:07", "12:34", "1:02:03".
std::string format_duration(std::chrono::seconds duration);

}  // namespace bcl::ctl
