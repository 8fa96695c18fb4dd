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
        auto creds = backing_call_as_caller(req);
        if (!creds) return creds.error();
        const int err = create(dir.fd.get()) == 0 ? 0 : errno;  // read before creds restore
        name_changed(state, dir, name);
        if (err != 0) return os_error(err);
    }
    auto entry = find_entry(state, dir, name);
    if (entry) {
        const Inode& child = state.inodes.get(entry.value().ino);
        state.stats.created(dir.key, dir.fd.get(), child.key, child.fd.get());
    }
    return entry;
}

std::optional<struct stat> lstat_at(const Inode& dir, const char* name) {
    struct stat st;
    if (::fstatat(dir.fd.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
    return st;
}

// The key the engine may know `name` in `dir` by (identities.h); none when
// it knows it by none, or when that cannot be told (logged: the cached
// data then stays until the file's record no longer matches).
std::optional<FileKey> engine_key(State& state, const Inode& dir, const char* name, mode_t type,
                                  const FileKey& backing) {
    auto key = state.ids.find(dir, name, type, backing);
    if (key) return key.value();
    state.log.error("the cache's name of {}: {}", name, key.error().message);
    return std::nullopt;
}

std::optional<FileKey> engine_key(State& state, const Inode& dir, const char* name,
                                  const std::optional<struct statx>& stx) {
    if (!stx) return std::nullopt;
    return engine_key(state, dir, name, stx->stx_mode, file_key_of(*stx));
}

// linkat as the caller. AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (which a
// caller other than root does not have); without it, go through /proc,
// where protected_hardlinks applies to the caller as on the backing.
Status link_as_caller(fuse_req_t req, const Inode& inode, const Inode& dir, const char* newname) {
    auto creds = backing_call_as_caller(req);
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
    // The whole change is one call on the backing: its checks before and
    // after too.
    auto call = backing_call(state);
    if (!call) return call.error();
    const Inode& inode = state.inodes.get(ino);
    Inode& dir = state.inodes.get(newparent);
    // A new link changes the file's ctime, not its data.
    MetadataNotice notice(state.data, inode.fd.get());
    notice.identify_as(inode.key);
    const Status linked = link_as_caller(req, inode, dir, newname);
    name_changed(state, dir, newname);
    BCL_TRY(linked);
    notice.finish();
    return find_entry(state, dir, newname);
}

Status do_remove(fuse_req_t req, State& state, fuse_ino_t parent, const char* name, bool is_dir) {
    // The whole change is one call on the backing: its checks before and
    // after too.
    auto call = backing_call(state);
    if (!call) return call.error();
    Inode& dir = state.inodes.get(parent);
    auto before = lstat_at(dir, name);
    const std::optional<FileKey> key =
        before ? engine_key(state, dir, name, before->st_mode, FileKey{before->st_dev, before->st_ino}) : std::nullopt;
    {
        auto creds = backing_call_as_caller(req);
        if (!creds) return creds.error();
        const int err = ::unlinkat(dir.fd.get(), name, is_dir ? AT_REMOVEDIR : 0) == 0 ? 0 : errno;
        name_changed(state, dir, name);
        if (err != 0) return os_error(err);
    }
    if (auto st = state.ids.removed(dir, name); !st)
        state.log.error("dropping the cache's name of {}: {}", name, st.error().message);
    if (key) state.data.unlinked(*key, state.ids.links_left(before->st_nlink, is_dir));
    return ok();
}

Status do_rename(fuse_req_t req, State& state, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                 const char* newname, unsigned int flags) {
    if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) return os_error(EINVAL);
    // The whole change is one call on the backing: its checks before and
    // after too.
    auto call = backing_call(state);
    if (!call) return call.error();
    Inode& from = state.inodes.get(parent);
    Inode& to = state.inodes.get(newparent);
    // A rename changes the ctime of the files it moves, not their data.
    MetadataNotice source(state.data, from.fd.get(), name);
    MetadataNotice target(state.data, to.fd.get(), newname);
    const auto& src = source.before();
    const auto& tgt = target.before();
    // Renaming a name onto another name of the same file does nothing.
    const bool same_file = src && tgt && file_key_of(*tgt) == file_key_of(*src);
    const std::optional<FileKey> src_key = engine_key(state, from, name, src);
    const std::optional<FileKey> tgt_key = engine_key(state, to, newname, tgt);
    source.identify_as(src_key);
    target.identify_as(tgt_key);
    {
        auto creds = backing_call_as_caller(req);
        if (!creds) return creds.error();
        const int err = ::renameat2(from.fd.get(), name, to.fd.get(), newname, flags) == 0 ? 0 : errno;
        name_changed(state, from, name);
        name_changed(state, to, newname);
        if (err != 0) return os_error(err);
    }
    // The source's key (and a directory's, its children's) follows it.
    if (!same_file) {
        if (auto st = state.ids.renamed(from, name, to, newname, (flags & RENAME_EXCHANGE) != 0); !st)
            state.log.error("moving the cache's name of {} to {}: {}", name, newname, st.error().message);
    }
    source.finish();
    if (!tgt || same_file) {
        target.cancel();  // no target, or another name of the source
    } else if (flags & RENAME_EXCHANGE) {
        target.finish();
    } else {
        target.cancel();
        if (tgt_key) state.data.unlinked(*tgt_key, state.ids.links_left(tgt->stx_nlink, S_ISDIR(tgt->stx_mode)));
    }
    return ok();
}

void reply_entry_result(fuse_req_t req, const Result<fuse_entry_param>& entry) {
    if (!entry) return reply_error(req, entry.error());
    fuse_reply_entry(req, &entry.value());
}

}  // namespace

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    reply_entry_result(
        req, create_as_caller(req, parent, name, [&](int dirfd) { return ::mknodat(dirfd, name, mode, rdev); }));
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    reply_entry_result(req,
                       create_as_caller(req, parent, name, [&](int dirfd) { return ::mkdirat(dirfd, name, mode); }));
}

void op_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
    reply_entry_result(req,
                       create_as_caller(req, parent, name, [&](int dirfd) { return ::symlinkat(link, dirfd, name); }));
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
