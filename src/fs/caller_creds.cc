#include "caller_creds.h"

#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "os_error.h"

namespace bcl {
namespace {

// glibc's setgroups() changes every thread of the process; the system call
// changes only the calling one, which is what a request needs.
int set_thread_groups(std::span<const gid_t> groups) {
    return static_cast<int>(::syscall(SYS_setgroups, groups.size(), groups.data()));
}

std::vector<gid_t> caller_groups(fuse_req_t req) {
    std::vector<gid_t> groups(32);
    for (int attempt = 0; attempt < 4; ++attempt) {
        int n = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
        if (n < 0) return {};  // unknown (e.g. the caller exited): primary group only
        if (static_cast<std::size_t>(n) <= groups.size()) {
            groups.resize(static_cast<std::size_t>(n));
            return groups;
        }
        groups.resize(static_cast<std::size_t>(n));
    }
    return {};
}

}  // namespace

CallerId CallerCreds::caller_of(fuse_req_t req, Own own) {
    const fuse_ctx* ctx = fuse_req_ctx(req);
    CallerId caller{ctx->uid, ctx->gid, {}};
    // The daemon itself (root) calling: nothing to switch, and no need to
    // read the caller's groups from /proc.
    if (caller.uid != own.uid || caller.gid != own.gid) caller.groups = caller_groups(req);
    return caller;
}

Result<CallerCreds> CallerCreds::enter(fuse_req_t req, bool enabled, Own own) {
    if (!enabled) return CallerCreds(false, own);
    return enter(caller_of(req, own), enabled, own);
}

Result<CallerCreds> CallerCreds::enter(const CallerId& caller, bool enabled, Own own) {
    if (!enabled || (caller.uid == own.uid && caller.gid == own.gid)) return CallerCreds(false, own);
    if (set_thread_groups(caller.groups) != 0) return last_os_error();
    CallerCreds creds(true, own);  // restores on every path below
    ::setfsgid(caller.gid);
    if (static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1))) != caller.gid) return os_error(EPERM);
    ::setfsuid(caller.uid);
    if (static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))) != caller.uid) return os_error(EPERM);
    return creds;
}

void CallerCreds::restore() {
    int saved = errno;
    ::setfsuid(own_.uid);
    ::setfsgid(own_.gid);
    set_thread_groups(own_.groups);
    errno = saved;
}

CallerCreds::~CallerCreds() {
    if (active_) restore();
}

}  // namespace bcl
