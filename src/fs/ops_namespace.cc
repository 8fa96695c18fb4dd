// Requests that change names: mknod, mkdir, symlink, link, unlink, rmdir,
// rename. Everything is relative to the parent's O_PATH descriptor and never
// follows a symlink. Every change runs as the caller (as_caller), so that
// the backing decides who may make it and new files, directories, nodes and
// symlinks belong to the caller.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "metadata_notice.h"
#include "ops.h"
#include "ops_common.h"
#include "os_error.h"

namespace bcl {
namespace {

// Runs `create` (returning 0 or -1 with errno) as the caller of req, then
// looks the new name up.
template <class Create>
Result<fuse_entry_param> create_as_caller(fuse_req_t req, fuse_ino_t parent, const char* name, Create create) {
    State& state = state_of(req);
    Inode& dir = state.inodes.get(parent);
    {
        auto creds = as_caller(req);
        if (!creds) return creds.error();
        if (create(dir.fd.get()) != 0) return last_os_error();  // errno read before creds restore
    }
    auto entry = lookup_entry(state, dir, name);
    if (entry) state.stats.created(dir.fd.get(), state.inodes.get(entry.value().ino).fd.get());
    return entry;
}

std::optional<struct stat> lstat_at(const Inode& dir, const char* name) {
    struct stat st;
    if (::fstatat(dir.fd.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
    return st;
}

FileKey key_of(const struct stat& st) { return FileKey{st.st_dev, st.st_ino}; }

// linkat as the caller. AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (which a
// caller other than root does not have); without it, go through /proc,
// where protected_hardlinks applies to the caller as on the backing.
Status link_as_caller(fuse_req_t req, const Inode& inode, const Inode& dir, const char* newname) {
    auto creds = as_caller(req);
    if (!creds) return creds.error();
    if (::linkat(inode.fd.get(), "", dir.fd.get(), newname, AT_EMPTY_PATH) == 0) return ok();
    if (errno != ENOENT && errno != EPERM) return last_os_error();
    if (::linkat(AT_FDCWD, ProcPath(inode.fd.get()).c_str(), dir.fd.get(), newname, AT_SYMLINK_FOLLOW) != 0) {
        return last_os_error();
    }
    return ok();
}

Result<fuse_entry_param> do_link(fuse_req_t req, State& state, fuse_ino_t ino, fuse_ino_t newparent,
                                 const char* newname) {
    const Inode& inode = state.inodes.get(ino);
    Inode& dir = state.inodes.get(newparent);
    // A new link changes the file's ctime, not its data.
    MetadataNotice notice(state.data, inode.fd.get());
    BCL_TRY(link_as_caller(req, inode, dir, newname));
    notice.finish();
    return lookup_entry(state, dir, newname);
}

Status do_remove(fuse_req_t req, State& state, fuse_ino_t parent, const char* name, bool is_dir) {
    const Inode& dir = state.inodes.get(parent);
    auto before = lstat_at(dir, name);
    {
        auto creds = as_caller(req);
        if (!creds) return creds.error();
        if (::unlinkat(dir.fd.get(), name, is_dir ? AT_REMOVEDIR : 0) != 0) return last_os_error();
    }
    if (before) {
        nlink_t left = is_dir || before->st_nlink == 0 ? 0 : before->st_nlink - 1;
        state.data.unlinked(key_of(*before), left);
    }
    return ok();
}

Status do_rename(fuse_req_t req, State& state, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
                 unsigned int flags) {
    if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) return os_error(EINVAL);
    const Inode& from = state.inodes.get(parent);
    const Inode& to = state.inodes.get(newparent);
    // A rename changes the ctime of the files it moves, not their data.
    MetadataNotice source(state.data, from.fd.get(), name);
    MetadataNotice target(state.data, to.fd.get(), newname);
    {
        auto creds = as_caller(req);
        if (!creds) return creds.error();
        if (::renameat2(from.fd.get(), name, to.fd.get(), newname, flags) != 0) return last_os_error();
    }
    source.finish();
    const auto& src = source.before();
    const auto& tgt = target.before();
    if (!tgt || (src && file_key_of(*tgt) == file_key_of(*src))) {
        target.cancel();  // no target, or another name of the source
    } else if (flags & RENAME_EXCHANGE) {
        target.finish();
    } else {
        target.cancel();
        nlink_t left = S_ISDIR(tgt->stx_mode) || tgt->stx_nlink == 0 ? 0 : tgt->stx_nlink - 1;
        state.data.unlinked(file_key_of(*tgt), left);
    }
    return ok();
}

void reply_entry_result(fuse_req_t req, const Result<fuse_entry_param>& entry) {
    if (!entry) return reply_error(req, entry.error());
    fuse_reply_entry(req, &entry.value());
}


}  // namespace

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    reply_entry_result(req, create_as_caller(req, parent, name,
                                             [&](int dirfd) { return ::mknodat(dirfd, name, mode, rdev); }));
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    reply_entry_result(req, create_as_caller(req, parent, name, [&](int dirfd) { return ::mkdirat(dirfd, name, mode); }));
}

void op_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
    reply_entry_result(req, create_as_caller(req, parent, name,
                                             [&](int dirfd) { return ::symlinkat(link, dirfd, name); }));
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
    reply_entry_result(req, do_link(req, state_of(req), ino, newparent, newname));
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    reply_status(req, do_remove(req, state_of(req), parent, name, false));
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    reply_status(req, do_remove(req, state_of(req), parent, name, true));
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
               unsigned int flags) {
    reply_status(req, do_rename(req, state_of(req), parent, name, newparent, newname, flags));
}

}  // namespace bcl
