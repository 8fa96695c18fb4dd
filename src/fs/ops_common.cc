#include "ops_common.h"

#include <fcntl.h>
#include <string.h>

#include "os_error.h"

namespace bcl {

Result<struct stat> stat_inode(const Inode& inode) {
    struct stat st;
    if (::fstatat(inode.fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return last_os_error();
    return st;
}

Result<Inode*> add_named_inode(State& state, Inode& parent, const char* name, const struct stat& st, UniqueFd path_fd,
                               std::string_view what) {
    const FileKey backing{st.st_dev, st.st_ino};
    auto key = state.ids.key_of(parent, name, st.st_mode, backing);
    if (!key) {
        state.log.error("{} of {}: {}", what, name, key.error().message);
        return os_error(EIO);
    }
    return &state.inodes.add_lookup(key.value(), backing, st.st_mode, std::move(path_fd));
}

Result<fuse_entry_param> lookup_entry(State& state, Inode& parent, const char* name) {
    // The kernel sends neither; refusing them keeps ".." of the root from
    // reaching outside the backing directory.
    if (::strcmp(name, ".") == 0 || ::strcmp(name, "..") == 0) return os_error(EINVAL);
    UniqueFd fd(::openat(parent.fd.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return last_os_error();
    struct stat st;
    if (::fstatat(fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return last_os_error();
    auto inode = add_named_inode(state, parent, name, st, std::move(fd), "lookup");
    if (!inode) return inode.error();
    fuse_entry_param e{};
    e.ino = state.inodes.ino_of(*inode.value());
    e.generation = 0;
    e.attr = st;
    e.attr_timeout = state.options.attr_timeout_seconds();
    e.entry_timeout = state.options.entry_timeout_seconds();
    return e;
}

Result<struct statx> statx_fd(int fd) {
    struct statx stx;
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0) return last_os_error();
    return stx;
}

Result<std::unique_ptr<OpenFile>> attach(State& state, Inode& inode, UniqueFd fd, int flags, bool truncate) {
    auto stx = statx_fd(fd.get());
    if (!stx) return stx.error();
    // The engine knows the file by the inode's key (identities.h).
    auto handle = state.data.open(fd.get(), with_key(stx.value(), inode.key), flags);
    if (!handle) return handle.error();
    auto file = std::make_unique<OpenFile>();
    file->inode = &inode;
    file->fd = std::move(fd);
    file->data = std::move(handle.value());
    if (truncate) {
        auto truncated = state.data.truncate(file->data.get(), inode.fd.get(), 0);
        data_changed(state, inode);
        if (!truncated) {
            state.data.release(std::move(file->data));
            return truncated.error();
        }
    }
    return file;
}

void release_file(State& state, OpenFile* file) {
    state.data.release(std::move(file->data));
    delete file;  // closes the backing descriptor after the seam let go
}

void data_changed(State& state, const Inode& inode) {
    for (const FileKey& other : state.inodes.other_keys(inode)) state.data.unlinked(other, 0);
}

}  // namespace bcl
