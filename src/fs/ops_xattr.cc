// Extended attributes. The backing files' own attributes pass through by
// /proc/self/fd path (the O_PATH descriptor cannot carry xattr calls); the
// reserved namespace user.bcachefs_lite. goes to the StatsXattrs handler and
// never reaches a backing file. Backing attributes are read and changed as
// the caller, so the backing's rules apply (read or write permission for
// user.*, CAP_SYS_ADMIN for trusted.*). Symlinks cannot be reached race-free
// by path, so they show no attributes and refuse to get any (as user.* would
// anyway). A backing without attributes (sshfs) still lists the cache's.
#include <sys/xattr.h>

#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/fs/stats_xattrs.h"
#include "ops.h"
#include "ops_common.h"
#include "os_error.h"

namespace bcl {
namespace {

// Replies to a get/list request: the size alone when the caller asked with
// size 0, ERANGE when the value does not fit, else the bytes.
void reply_xattr_value(fuse_req_t req, size_t size, const char* data, size_t len) {
    if (size == 0) {
        fuse_reply_xattr(req, len);
    } else if (len > size) {
        fuse_reply_err(req, ERANGE);
    } else {
        fuse_reply_buf(req, data, len);
    }
}

Result<std::string> do_getxattr(fuse_req_t req, State& state, fuse_ino_t ino, const char* name) {
    const Inode& inode = state.inodes.get(ino);
    if (is_stats_xattr(name)) return state.stats.get(inode.key, inode.fd.get(), state.inodes.is_root(inode), name);
    if (inode.is_symlink()) return os_error(ENODATA);
    auto creds = backing_call_as_caller(req);
    if (!creds) return creds.error();
    ProcPath path(inode.fd.get());
    for (;;) {
        ssize_t len = ::getxattr(path.c_str(), name, nullptr, 0);
        if (len < 0) return last_os_error();
        std::string value(static_cast<std::size_t>(len), '\0');
        ssize_t n = ::getxattr(path.c_str(), name, value.data(), value.size());
        if (n >= 0) {
            value.resize(static_cast<std::size_t>(n));
            return value;
        }
        if (errno != ERANGE) return last_os_error();  // ERANGE: it grew meanwhile
    }
}

// The backing names without reserved ones, then the handler's names.
Result<std::string> backing_xattr_names(fuse_req_t req, const Inode& inode) {
    std::string backing;
    if (inode.is_symlink()) return backing;
    auto creds = backing_call_as_caller(req);
    // While the backing hangs, the cache's own names alone.
    if (!creds && creds.error().sys_errno == ETIMEDOUT && backing_hangs(state_of(req))) return backing;
    if (!creds) return creds.error();
    ProcPath path(inode.fd.get());
    for (;;) {
        ssize_t len = ::listxattr(path.c_str(), nullptr, 0);
        if (len < 0 && (errno == ENOTSUP || errno == ENOSYS)) return std::string();  // none to list
        if (len < 0) return last_os_error();
        backing.assign(static_cast<std::size_t>(len), '\0');
        ssize_t n = ::listxattr(path.c_str(), backing.data(), backing.size());
        if (n >= 0) {
            backing.resize(static_cast<std::size_t>(n));
            return backing;
        }
        if (errno != ERANGE) return last_os_error();
    }
}

Result<std::string> do_listxattr(fuse_req_t req, State& state, fuse_ino_t ino) {
    const Inode& inode = state.inodes.get(ino);
    auto names = backing_xattr_names(req, inode);
    if (!names) return names.error();
    const std::string& backing = names.value();
    std::string out;
    std::size_t pos = 0;
    while (pos < backing.size()) {
        std::size_t end = backing.find('\0', pos);
        if (end == std::string::npos) end = backing.size();
        std::string_view name(backing.data() + pos, end - pos);
        if (!name.empty() && !is_stats_xattr(name)) {
            out.append(name);
            out.push_back('\0');
        }
        pos = end + 1;
    }
    for (const std::string& name : state.stats.list(inode.key, state.inodes.is_root(inode))) {
        if (!is_stats_xattr(name)) continue;  // the handler only speaks for its namespace
        out.append(name);
        out.push_back('\0');
    }
    return out;
}

Status do_setxattr(fuse_req_t req, State& state, fuse_ino_t ino, const char* name, const char* value, size_t size,
                   int flags) {
    const uid_t caller_uid = fuse_req_ctx(req)->uid;
    const Inode& inode = state.inodes.get(ino);
    if (is_stats_xattr(name)) {
        return state.stats.set(inode.key, inode.fd.get(), state.inodes.is_root(inode), name,
                               std::string_view(value, size), caller_uid);
    }
    if (inode.is_symlink()) return os_error(EPERM);
    // An ACL may take away what an earlier open was allowed.
    state.read_grants.forget(inode.key);
    auto creds = backing_call_as_caller(req);
    if (!creds) return creds.error();
    if (::setxattr(ProcPath(inode.fd.get()).c_str(), name, value, size, flags) != 0) return last_os_error();
    return ok();
}

Status do_removexattr(fuse_req_t req, State& state, fuse_ino_t ino, const char* name) {
    const Inode& inode = state.inodes.get(ino);
    if (is_stats_xattr(name)) return state.stats.remove(inode.key, state.inodes.is_root(inode), name);
    if (inode.is_symlink()) return os_error(EPERM);
    state.read_grants.forget(inode.key);
    auto creds = backing_call_as_caller(req);
    if (!creds) return creds.error();
    if (::removexattr(ProcPath(inode.fd.get()).c_str(), name) != 0) return last_os_error();
    return ok();
}

}  // namespace

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    auto value = do_getxattr(req, state_of(req), ino, name);
    if (!value) return reply_error(req, value.error());
    reply_xattr_value(req, size, value.value().data(), value.value().size());
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    auto names = do_listxattr(req, state_of(req), ino);
    if (!names) return reply_error(req, names.error());
    reply_xattr_value(req, size, names.value().data(), names.value().size());
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
    // The knobs of the cache are root's: the handler checks the caller.
    auto status = do_setxattr(req, state_of(req), ino, name, value, size, flags);
    fuse_reply_err(req, status ? 0 : status.error().to_errno());
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
    auto status = do_removexattr(req, state_of(req), ino, name);
    fuse_reply_err(req, status ? 0 : status.error().to_errno());
}

}  // namespace bcl
