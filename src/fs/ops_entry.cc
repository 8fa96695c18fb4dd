// Inode-level requests: lookup and forget, attributes, readlink, access,
// statfs.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <optional>
#include <vector>

#include "bcachefs_lite/cache/coherency_window.h"
#include "metadata_notice.h"
#include "ops.h"
#include "ops_common.h"
#include "os_error.h"

namespace bcl {
namespace {

Result<fuse_entry_param> do_lookup(fuse_req_t req, State& state, fuse_ino_t parent, const char* name) {
    // As the caller: a directory it may not search yields EACCES, as on the
    // backing.
    auto creds = as_caller(req);
    if (!creds) return creds.error();
    auto entry = find_entry(state, state.inodes.get(parent), name);
    if (!entry && entry.error().sys_errno == ENOENT && state.options.entry_timeout_seconds() > 0) {
        // A negative entry: the kernel remembers the name is absent for
        // entry_timeout seconds.
        fuse_entry_param e{};
        e.ino = 0;
        e.entry_timeout = state.options.entry_timeout_seconds();
        return e;
    }
    return entry;
}

// The atime and mtime a setattr asks for, as utimensat takes them.
std::array<struct timespec, 2> requested_times(const struct stat& attr, int to_set) {
    std::array<struct timespec, 2> times{timespec{0, UTIME_OMIT}, timespec{0, UTIME_OMIT}};
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
        times[0].tv_nsec = UTIME_NOW;
    } else if (to_set & FUSE_SET_ATTR_ATIME) {
        times[0] = attr.st_atim;
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
        times[1].tv_nsec = UTIME_NOW;
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
        times[1] = attr.st_mtim;
    }
    return times;
}

Status set_times(const Inode& inode, const OpenFile* file, const struct timespec times[2]) {
    int r;
    if (file && file->backing->opened() >= 0) {
        r = ::futimens(file->backing->opened(), times);
    } else if (inode.is_symlink()) {
        r = ::utimensat(inode.fd.get(), "", times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
    } else {
        r = ::utimensat(AT_FDCWD, ProcPath(inode.fd.get()).c_str(), times, 0);
    }
    if (r != 0) return last_os_error();
    return ok();
}

// A truncate by path (truncate(2), no open file): the caller opens the
// backing file for writing as itself, which shows that it may, and the
// truncate goes through that open, under the inode's key.
Status truncate_by_path(fuse_req_t req, State& state, Inode& inode, std::uint64_t size) {
    UniqueFd fd;
    {
        auto creds = backing_call_as_caller(req);
        if (!creds) return creds.error();
        fd.reset(::open(ProcPath(inode.fd.get()).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
        if (!fd.valid()) return last_os_error();
    }
    auto file = attach(state, inode, std::move(fd), O_WRONLY | O_NONBLOCK | O_CLOEXEC, false);
    if (!file) return file.error();
    Status truncated = state.data.truncate(file.value()->data.get(), inode.fd.get(), size);
    release_file(state, file.value().release());
    return truncated;
}

// chmod, chown and utimes run as the caller: the backing applies its own
// rules of who may change what (owner, CAP_FOWNER, the setgid bit).
Result<struct stat> do_setattr(fuse_req_t req, State& state, fuse_ino_t ino, const struct stat& attr, int to_set,
                               const fuse_file_info* fi) {
    // The whole change is one call on the backing: its checks before and
    // after too.
    auto call = backing_call(state);
    if (!call) return call.error();
    Inode& inode = state.inodes.get(ino);
    OpenFile* file = fi ? &open_file_of(fi) : nullptr;
    // chmod, chown and utimens change ctime (utimens mtime too), not data;
    // reported when the request returns (the destructor), also on failure.
    constexpr int kMetadataOnly = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_ATIME |
                                  FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
    // Whoever an earlier open allowed may not be allowed after this.
    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) state.read_grants.forget(inode.key);
    std::optional<MetadataNotice> notice;
    if (S_ISREG(inode.type) && (to_set & kMetadataOnly)) {
        notice.emplace(state.data, inode.fd.get());
        notice->identify_as(inode.key);
    }

    if (to_set & FUSE_SET_ATTR_MODE) {
        auto creds = backing_call_as_caller(req);
        if (!creds) return creds.error();
        int r = file && file->backing->opened() >= 0
                    ? ::fchmod(file->backing->opened(), attr.st_mode)
                    : ::fchmodat(AT_FDCWD, ProcPath(inode.fd.get()).c_str(), attr.st_mode, 0);
        if (r != 0) return last_os_error();
    }
    if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr.st_uid : static_cast<uid_t>(-1);
        gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr.st_gid : static_cast<gid_t>(-1);
        auto creds = backing_call_as_caller(req);
        if (!creds) return creds.error();
        if (::fchownat(inode.fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
            return last_os_error();
        }
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (!S_ISREG(inode.type)) return os_error(inode.is_dir() ? EISDIR : EINVAL);
        // The truncate reports itself through FileData: the notice covers
        // what came before it and what comes after.
        if (notice) notice->finish();
        const auto size = static_cast<std::uint64_t>(attr.st_size);
        Status truncated = file ? state.data.truncate(file->data.get(), inode.fd.get(), size)
                                : truncate_by_path(req, state, inode, size);
        data_changed(state, inode);
        BCL_TRY(truncated);
        if (notice) notice->restart();
    }
    if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
        const std::array<struct timespec, 2> times = requested_times(attr, to_set);
        auto creds = backing_call_as_caller(req);
        if (!creds) return creds.error();
        BCL_TRY(set_times(inode, file, times.data()));
    }
    return stat_inode(inode);
}

Result<std::vector<char>> do_readlink(State& state, fuse_ino_t ino) {
    const Inode& inode = state.inodes.get(ino);
    auto call = backing_call(state);
    if (!call) return call.error();
    std::vector<char> buf(256);
    for (;;) {
        ssize_t n = ::readlinkat(inode.fd.get(), "", buf.data(), buf.size());
        if (n < 0) return last_os_error();
        if (static_cast<std::size_t>(n) < buf.size()) {
            buf.resize(static_cast<std::size_t>(n) + 1);
            buf.back() = '\0';
            return buf;
        }
        if (buf.size() >= 65536) return os_error(ENAMETOOLONG);
        buf.resize(buf.size() * 4);
    }
}

// access(2), should the kernel ask (it checks by itself under
// default_permissions, which every mount has): the backing answers for the
// caller, ACLs included.
Status do_access(fuse_req_t req, State& state, fuse_ino_t ino, int mask) {
    const Inode& inode = state.inodes.get(ino);
    auto creds = backing_call_as_caller(req);
    if (!creds) return creds.error();
    if (::faccessat(AT_FDCWD, ProcPath(inode.fd.get()).c_str(), mask, AT_EACCESS) != 0) return last_os_error();
    return ok();
}

}  // namespace

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    auto entry = do_lookup(req, state_of(req), parent, name);
    if (!entry) return reply_error(req, entry.error());
    fuse_reply_entry(req, &entry.value());
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    State& state = state_of(req);
    state.inodes.forget(state.inodes.get(ino), nlookup);
    fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    State& state = state_of(req);
    for (size_t i = 0; i < count; ++i) state.inodes.forget(state.inodes.get(forgets[i].ino), forgets[i].nlookup);
    fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    State& state = state_of(req);
    Inode& inode = state.inodes.get(ino);
    const double timeout = state.options.attr_timeout_seconds();
    const std::uint64_t epoch = state.changes.stable();
    const std::int64_t now = CoherencyWindow::now_ns();
    // Within the coherency window, from the attributes last read.
    if (auto cached = inode.attrs.get(epoch, now, state.window.ns()))
        return static_cast<void>(fuse_reply_attr(req, &*cached, timeout));
    // While the backing hangs, the attributes last read first.
    if (backing_hangs(state)) {
        if (auto last = inode.attrs.last()) return static_cast<void>(fuse_reply_attr(req, &*last, timeout));
    }
    auto st = stat_inode(state, inode);
    if (!st) {
        // While the backing does not answer, the attributes last read.
        if (backing_gone(state, st.error())) {
            if (auto last = inode.attrs.last()) return static_cast<void>(fuse_reply_attr(req, &*last, timeout));
        }
        return reply_error(req, st.error());
    }
    state.data.backing_answered();
    inode.attrs.store(st.value(), epoch, now);
    if (S_ISREG(inode.type)) state.read_grants.renew(inode.key, st.value(), now);
    fuse_reply_attr(req, &st.value(), timeout);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
    State& state = state_of(req);
    auto st = do_setattr(req, state, ino, *attr, to_set, fi);
    if (!st) return reply_error(req, st.error());
    fuse_reply_attr(req, &st.value(), state.options.attr_timeout_seconds());
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
    auto target = do_readlink(state_of(req), ino);
    if (!target) return reply_error(req, target.error());
    fuse_reply_readlink(req, target.value().data());
}

void op_access(fuse_req_t req, fuse_ino_t ino, int mask) {
    auto status = do_access(req, state_of(req), ino, mask);
    fuse_reply_err(req, status ? 0 : status.error().to_errno());
}

void op_statfs(fuse_req_t req, fuse_ino_t ino) {
    State& state = state_of(req);
    auto call = backing_call(state);
    if (!call) return reply_error(req, call.error());
    struct statvfs sv;
    if (::fstatvfs(state.inodes.get(ino).fd.get(), &sv) != 0) return reply_error(req, last_os_error());
    fuse_reply_statfs(req, &sv);
}

}  // namespace bcl
