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
// Thread safety: every function may be called from any thread; each change
// of state is one compare-and-swap, so racing reports log exactly one line
// per change.
#pragma once

#include <atomic>

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

private:
    void come_back();

    Logger& log_;
    std::atomic<bool> down_{false};
};

}  // namespace bcl
