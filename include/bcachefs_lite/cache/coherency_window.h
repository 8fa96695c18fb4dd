// CoherencyWindow: how long a backing file, once checked against its record
// (size, mtime, ctime), is trusted without another check: the actimeo= of
// the mount, as NFS trusts its attribute cache. Within the window a read of
// cached data makes no call on the backing file at all, so a change made
// behind the cache's back shows at most this long after the last check.
// 0 checks before every read (and every open).
//
// Thread safety: set() and the queries may race; each is one atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace bcl {

class CoherencyWindow {
public:
    using Clock = std::chrono::steady_clock;

    explicit CoherencyWindow(double seconds) { set(seconds); }

    void set(double seconds) { ns_.store(static_cast<std::int64_t>(seconds * 1e9), std::memory_order_relaxed); }
    std::int64_t ns() const { return ns_.load(std::memory_order_relaxed); }
    double seconds() const { return static_cast<double>(ns_.load(std::memory_order_relaxed)) / 1e9; }

    // The time of a check, as CachedFile::checked_ns keeps it; never 0,
    // which means "never checked".
    static std::int64_t now_ns() {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
        return ns == 0 ? 1 : ns;
    }

    // Whether a check made at `checked_ns` (0: never) still holds now.
    bool holds(std::int64_t checked_ns) const {
        const std::int64_t window = ns_.load(std::memory_order_relaxed);
        return checked_ns != 0 && window > 0 && now_ns() - checked_ns < window;
    }

private:
    std::atomic<std::int64_t> ns_{0};
};

}  // namespace bcl
