// CallerCreds: runs the system calls a request makes on the backing
// directory as the process that made the request, so that the backing file
// system applies its own rules to that caller, exactly as for a local one:
// permission bits, ACLs, ownership rules of chmod, chown and utimes, sticky
// and setgid directories, protected hard links, and a network server's own
// checks (root_squash). What the caller creates belongs to it. It switches
// the calling thread's fsuid, fsgid and supplementary groups, which on Linux
// are per thread when set with the raw system calls, and restores them when
// destroyed. Only the backing calls run so: the cache's own files (device,
// index) are always reached with the daemon's identity.
//
// Thread safety: affects only the calling thread; create and destroy on the
// same thread, within one request.
#pragma once

#include <sys/types.h>

#include <span>
#include <utility>
#include <vector>

#include "bcachefs_lite/util/error.h"
#include "fuse_api.h"

namespace bcl {

// Who made a request, as the backing sees it: fsuid, fsgid and
// supplementary groups (empty when the caller is the daemon itself).
struct CallerId {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    bool operator==(const CallerId&) const = default;
};

class CallerCreds {
public:
    // The daemon's own identity, restored afterwards.
    struct Own {
        uid_t uid;
        gid_t gid;
        std::span<const gid_t> groups;
    };

    // When `enabled` (the daemon runs as root), switches to the caller of
    // `req`; otherwise, or when the caller's uid and gid are the daemon's
    // own, does nothing.
    [[nodiscard]] static Result<CallerCreds> enter(fuse_req_t req, bool enabled, Own own);
    // The same for a caller known from an earlier request (an open file's
    // opener, for a backing open made later on its behalf).
    [[nodiscard]] static Result<CallerCreds> enter(const CallerId& caller, bool enabled, Own own);
    // The caller of `req`; its groups are read only when it is not the
    // daemon itself.
    static CallerId caller_of(fuse_req_t req, Own own);

    CallerCreds(CallerCreds&& other) noexcept : active_(std::exchange(other.active_, false)), own_(other.own_) {}
    CallerCreds& operator=(CallerCreds&&) = delete;
    CallerCreds(const CallerCreds&) = delete;
    CallerCreds& operator=(const CallerCreds&) = delete;
    ~CallerCreds();

private:
    CallerCreds(bool active, Own own) : active_(active), own_(own) {}
    void restore();

    bool active_;
    Own own_;
};

}  // namespace bcl
