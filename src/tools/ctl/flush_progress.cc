#include "flush_progress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bcachefs_lite/util/size.h"

namespace bcl::ctl {

void FlushProgress::sample(Clock::time_point when, std::uint64_t dirty) {
    samples_.push_back(Sample{when, dirty});
    // Keep one sample at or before the window's start, so the window is
    // always fully covered once there has been time to.
    while (samples_.size() > 2 && samples_[1].when <= when - kRateWindow) samples_.pop_front();
    peak_ = std::max(peak_, dirty);
}

std::optional<double> FlushProgress::rate() const {
    if (samples_.size() < 2) return std::nullopt;
    const Sample& first = samples_.front();
    const Sample& last = samples_.back();
    const double seconds = std::chrono::duration<double>(last.when - first.when).count();
    if (seconds <= 0 || last.dirty >= first.dirty) return std::nullopt;
    return static_cast<double>(first.dirty - last.dirty) / seconds;
}

std::optional<std::chrono::seconds> FlushProgress::time_left() const {
    auto r = rate();
    if (!r) return std::nullopt;
    return std::chrono::seconds(static_cast<std::int64_t>(std::ceil(static_cast<double>(dirty()) / *r)));
}

std::string FlushProgress::figures(const char* separator) const {
    auto r = rate();
    auto left = time_left();
    return fmt::format("{} dirty{}{}{}{}", format_size_approx(dirty()), separator,
                       r ? format_size_approx(static_cast<std::uint64_t>(*r)) + "/s" : std::string("-/s"), separator,
                       left ? format_duration(*left) + " left" : std::string("--:-- left"));
}

std::string FlushProgress::bar_line() const {
    const std::uint64_t done = peak_ - std::min(peak_, dirty());
    const std::size_t filled = peak_ == 0 ? kBarWidth : static_cast<std::size_t>(done * kBarWidth / peak_);
    return fmt::format("[{}{}]  {}", std::string(filled, '#'), std::string(kBarWidth - filled, '.'), figures("  "));
}

std::string FlushProgress::plain_line() const { return figures(", "); }

std::string format_duration(std::chrono::seconds duration) {
    const std::int64_t total = std::max<std::int64_t>(duration.count(), 0);
    const std::int64_t h = total / 3600, m = total / 60 % 60, s = total % 60;
    if (h > 0) return fmt::format("{}:{:02}:{:02}", h, m, s);
    return fmt::format("{}:{:02}", m, s);
}

}  // namespace bcl::ctl
