// Session::State: what every request handler needs, handed to libfuse as the
// session's userdata (no global state). Created once by Session::create and
// destroyed after the session loop has ended.
//
// Thread safety: the references and the flags below are set before the loop
// starts and only read afterwards; InodeTable, Identities and ReadGrants
// lock themselves; FileData and StatsXattrs are thread-safe by contract.
#pragma once

#include <sys/types.h>

#include <vector>

#include "bcachefs_lite/fs/session.h"
#include "caller_creds.h"
#include "fuse_api.h"
#include "identities.h"
#include "inode_table.h"
#include "read_grants.h"

namespace bcl {

struct Session::State {
    State(const MountOptions& opts, FileData& file_data, StatsXattrs& stats_xattrs, Logger& logger, NameTable* names,
          UniqueFd root_fd, FileKey root_backing)
        : options(opts),
          data(file_data),
          stats(stats_xattrs),
          log(logger),
          own_window(opts.tunables.actimeo),
          window(file_data.coherency_window() ? *file_data.coherency_window() : own_window),
          ids(names),
          inodes(std::move(root_fd), ids.root_key(root_backing), root_backing, window) {}

    const MountOptions options;
    FileData& data;
    StatsXattrs& stats;
    Logger& log;
    // The coherency window: the engine's, else the mount's actimeo.
    const CoherencyWindow own_window;
    const CoherencyWindow& window;
    Identities ids;  // before inodes, which takes the root's key from it
    InodeTable inodes;
    // Read-only opens that may be answered without the backing file.
    ReadGrants read_grants;
    // Requests that may change attributes, against Inode::attrs.
    ChangeEpoch changes;

    // True when the backing answers the lookups of a directory's entries
    // from what a listing of it fetched, so that listing a directory before
    // the first lookup in it saves round trips (a network or FUSE file
    // system: Session::create).
    bool prime_listings = false;

    // True when the daemon runs as root: creating calls then run as the
    // caller (CallerCreds).
    bool switch_creds = false;
    uid_t own_uid = 0;
    gid_t own_gid = 0;
    std::vector<gid_t> own_groups;

    fuse_session* se = nullptr;  // owned; destroyed by ~Session
    bool mounted = false;        // used by the thread that drives the Session

    CallerCreds::Own own() const { return CallerCreds::Own{own_uid, own_gid, own_groups}; }
};

}  // namespace bcl
