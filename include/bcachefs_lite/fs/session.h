// Session: one mount of a backing directory through FUSE. It opens the
// backing root, creates the libfuse low-level session with the options of a
// MountOptions, mounts it, optionally detaches from the terminal, and serves
// requests on libfuse's multi-threaded loop until the file system is
// unmounted or the process is sent SIGINT, SIGTERM or SIGHUP.
//
// Data operations go through the FileData given (file_data.h); the reserved
// xattr namespace through the StatsXattrs given (stats_xattrs.h). Both, and
// the Logger, must outlive the Session.
//
// Thread safety: create/mount/detach/run are called in that order from one
// thread; run() serves requests on libfuse's worker threads.
#pragma once

#include <memory>

#include "bcachefs_lite/cache/name_table.h"
#include "bcachefs_lite/fs/file_data.h"
#include "bcachefs_lite/fs/mount_options.h"
#include "bcachefs_lite/fs/stats_xattrs.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"

namespace bcl {

class Session {
public:
    // Largest read and write request, in bytes. Default and maximum: 1 MiB.
    static constexpr unsigned kMaxIo = 1u << 20;
    // Idle worker threads libfuse keeps before it lets them exit.
    static constexpr unsigned kMaxIdleThreads = 16;

    // Opens options.source and creates the FUSE session; mounts nothing.
    // `names`, when given, makes the mount recognise files by path
    // (identity=path, identity.h); it must outlive the Session.
    static Result<std::unique_ptr<Session>> create(const MountOptions& options, FileData& data, StatsXattrs& stats,
                                                   Logger& log, NameTable* names = nullptr);
    // Unmounts (when mounted) and destroys the FUSE session.
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Mounts on options.mountpoint.
    Status mount();
    // Detaches from the terminal (fork, setsid, chdir /, stdio to /dev/null);
    // the parent exits 0 only then, so a caller of the daemon sees the mount
    // ready. Call after mount().
    Status detach();
    // Serves requests until unmounted or signalled.
    Status run();

    struct State;  // the request handlers' state, passed to libfuse as userdata

private:
    explicit Session(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

}  // namespace bcl
