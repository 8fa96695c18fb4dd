// BackingLink: whether the backing directory answers. A network backing
// (NFS, CephFS, sshfs, SMB) can stop answering altogether: its server is
// gone, and every call fails with ENOTCONN, ETIMEDOUT, EIO and the like.
// The engine then still serves what it holds whole (io/offline_read.cc);
// this only keeps the state, for that, for the `backing_offline`
// statistic and for one log line per change.
//
// Every call on the backing directory that failed or succeeded may report
// it; only the errors unreachable() names take the link down, since any
// other error (ENOENT, EACCES, ...) is about one file and says the
// directory answered.
//
// A backing that hangs instead of failing (a server gone without closing
// the connection: sshfs until ssh notices, NFS hard mounts for ever) is
// found by the calls in flight: each call that may hang is a Call from
// begin_call(), and check(), run periodically by the engine, takes the link
// down once the oldest has waited longer than the timeout
// (Tunables::backing_timeout). While it is down and a call is still in
// flight (hanging()), callers answer from memory first and fail at once
// rather than add another call, so hung calls cannot take every worker
// thread.
//
// Thread safety: every function may be called from any thread; each change
// of state is one compare-and-swap, so racing reports log exactly one line
// per change. The calls in flight are under a mutex of their own.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>

#include "bcachefs_lite/cache/coherency_window.h"

#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"

namespace bcl {

class BackingLink {
public:
    // `log` must outlive this.
    explicit BackingLink(Logger& log) : log_(log) {}
    BackingLink(const BackingLink&) = delete;
    BackingLink& operator=(const BackingLink&) = delete;

    // Whether errno `err` means the backing directory stopped answering
    // rather than that one file is bad. EIO is one of them: NFS soft mounts
    // and sshfs report a lost server so too.
    static bool unreachable(int err);

    // A call on the backing directory failed with `e`: when its system
    // errno (Error::sys_errno; errors made by the engine itself have none)
    // is unreachable() and the link was up, it goes down with one warning.
    void failed(const Error& e);
    // A call on the backing directory succeeded: a link that was down comes
    // up again with one info line. One atomic load when it is up.
    void answered() {
        if (down_.load(std::memory_order_acquire)) come_back();
    }
    bool down() const { return down_.load(std::memory_order_acquire); }

    // One call on the backing directory in flight, from begin_call() to
    // its destruction. An empty one (default-constructed, or moved from)
    // tracks nothing.
    class Call {
    public:
        Call() = default;
        Call(Call&& other) noexcept : link_(other.link_), id_(other.id_) { other.link_ = nullptr; }
        Call& operator=(Call&& other) noexcept;
        Call(const Call&) = delete;
        Call& operator=(const Call&) = delete;
        ~Call() { end(); }

    private:
        friend class BackingLink;
        Call(BackingLink* link, std::uint64_t id) : link_(link), id_(id) {}
        void end();

        BackingLink* link_ = nullptr;
        std::uint64_t id_ = 0;
    };
    // A call starting at `now_ns` (CoherencyWindow::now_ns).
    [[nodiscard]] Call begin_call(std::int64_t now_ns = CoherencyWindow::now_ns());
    // Whether some call is in flight.
    bool busy() const;
    // Down while a call is still in flight: the backing hangs, and another
    // call would only hang with it. Callers answer from memory, or fail
    // with ETIMEDOUT; while down with nothing in flight, their next call is
    // the probe whose success brings the link up.
    bool hanging() const { return down() && busy(); }
    // When the timeout is set and the oldest call in flight started more
    // than the timeout before `now_ns`, the link goes down with one warning.
    void check(std::int64_t now_ns);
    // Seconds a call may take before check() takes the link down, 0 for no
    // limit. Default: 0 here; the engine sets Tunables::backing_timeout.
    void set_timeout(double seconds);
    double timeout() const { return timeout_s_.load(std::memory_order_acquire); }

private:
    void come_back();

    Logger& log_;
    std::atomic<bool> down_{false};
    std::atomic<double> timeout_s_{0};
    mutable std::mutex calls_mutex_;
    std::uint64_t next_call_ = 1;                  // guarded by calls_mutex_
    std::map<std::uint64_t, std::int64_t> calls_;  // id -> start; guarded by calls_mutex_
};

}  // namespace bcl
