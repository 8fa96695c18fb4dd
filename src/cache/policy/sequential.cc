// SequentialDetector and CongestionMeter (sequential.h). 128 streams and
// 128 writers are scanned linearly: cheaper than keeping bcache's hash and
// LRU list in order for so few (the streams, pieces and all, take 31 KiB).
#include "bcachefs_lite/cache/sequential.h"

#include <fmt/format.h>

#include <algorithm>

namespace bcl {

namespace {
constexpr std::uint64_t kEwmaWeight = 8;
}  // namespace

Status validate(const BypassTunables& t) {
    if (t.sequential_cutoff > kMaxSequentialCutoff)
        return make_error(Errc::invalid, fmt::format("sequential_cutoff {} is too large: at most {}",
                                                     t.sequential_cutoff, kMaxSequentialCutoff));
    return ok();
}

std::uint64_t sequential_ewma(std::uint64_t avg, std::uint64_t val) {
    return (avg * (kEwmaWeight - 1) + val) / kEwmaWeight;
}

SequentialDetector::SequentialDetector() = default;

SequentialDetector::Writer& SequentialDetector::writer_locked(std::uint64_t id) {
    Writer* oldest = &writers_[0];
    for (Writer& w : writers_) {
        if (w.id == id) return w;
        if (w.last_use < oldest->last_use) oldest = &w;
    }
    *oldest = Writer{id, 0, 0, 0};
    return *oldest;
}

SequentialDetector::Stream* SequentialDetector::continued_locked(std::uint64_t file_id, std::uint64_t offset,
                                                                 std::uint64_t length, std::uint64_t limit,
                                                                 SeqClock::time_point now) {
    Stream* nearest = nullptr;
    std::uint64_t nearest_distance = 0;
    for (Stream& candidate : streams_) {
        if (candidate.last_use == 0 || candidate.file_id != file_id || now >= candidate.expires) continue;
        const std::optional<std::uint64_t> d = candidate.ground.distance(offset, length, limit);
        if (d && (!nearest || *d < nearest_distance)) {
            nearest = &candidate;
            nearest_distance = *d;
        }
    }
    return nearest;
}

bool SequentialDetector::check(std::uint64_t file_id, std::uint64_t offset, std::uint64_t length, std::uint64_t writer,
                               SeqClock::time_point now, std::uint64_t cutoff) {
    if (cutoff == 0) return false;
    std::lock_guard lk(mutex_);
    ++use_;
    Writer* w = writer != 0 ? &writer_locked(writer) : nullptr;
    if (w) w->last_use = use_;
    // Offsets near the top of the range cannot overflow offset + length.
    length = std::min(length, UINT64_MAX - offset);
    Stream* s = continued_locked(file_id, offset, length, sequential_window(cutoff), now);
    if (s) {
        s->ground.add(offset, length);
    } else {
        s = &*std::min_element(streams_.begin(), streams_.end(),
                               [](const Stream& a, const Stream& b) { return a.last_use < b.last_use; });
        // A new run: the writer's last one counts into its average.
        if (w) {
            w->average = sequential_ewma(w->average, w->run);
            w->run = 0;
        }
        s->file_id = file_id;
        s->ground.start(offset, length);
    }
    s->expires = now + kSequentialExpiry;
    s->last_use = use_;
    std::uint64_t seen = s->ground.run();
    if (w) {
        w->run = seen;
        seen = std::max(seen, w->average);
    }
    return seen >= cutoff;
}

std::uint64_t SequentialDetector::run_at(std::uint64_t file_id, std::uint64_t end, SeqClock::time_point now) const {
    std::lock_guard lk(mutex_);
    for (const Stream& s : streams_)
        if (s.last_use != 0 && s.file_id == file_id && s.ground.end() == end && now < s.expires) return s.ground.run();
    return 0;
}

std::uint64_t SequentialDetector::writer_average(std::uint64_t writer) const {
    std::lock_guard lk(mutex_);
    for (const Writer& w : writers_)
        if (w.id == writer && w.id != 0) return w.average;
    return 0;
}

void CongestionMeter::record(CacheIo kind, std::chrono::microseconds took, SeqClock::time_point now) {
    const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(took.count(), 0));
    std::lock_guard lk(mutex_);
    Kind& k = kinds_[static_cast<int>(kind)];
    k.average_us = sequential_ewma(k.average_us, us);
    k.sampled = true;
    k.last = now;
}

bool CongestionMeter::congested(const BypassTunables& t, SeqClock::time_point now) const {
    std::lock_guard lk(mutex_);
    const auto over = [&](const Kind& k, unsigned threshold) {
        return threshold != 0 && k.sampled && k.average_us > threshold && now - k.last < kCongestionHold;
    };
    return over(kinds_[0], t.congested_read_threshold_us) || over(kinds_[1], t.congested_write_threshold_us);
}

std::uint64_t CongestionMeter::average_us(CacheIo kind) const {
    std::lock_guard lk(mutex_);
    return kinds_[static_cast<int>(kind)].average_us;
}

}  // namespace bcl
