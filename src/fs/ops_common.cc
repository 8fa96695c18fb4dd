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

Result<fuse_entry_param> lookup_entry(State& state, Inode& parent, const char* name) {
    // The kernel sends neither; refusing them keeps ".." of the root from
    // reaching outside the backing directory.
    if (::strcmp(name, ".") == 0 || ::strcmp(name, "..") == 0) return os_error(EINVAL);
    UniqueFd fd(::openat(parent.fd.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return last_os_error();
    struct stat st;
    if (::fstatat(fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return last_os_error();
    Inode& inode = state.inodes.add_lookup(FileKey{st.st_dev, st.st_ino}, st.st_mode, std::move(fd));
    fuse_entry_param e{};
    e.ino = state.inodes.ino_of(inode);
    e.generation = 0;
    e.attr = st;
    e.attr_timeout = state.options.attr_timeout;
    e.entry_timeout = state.options.entry_timeout;
    return e;
}

Result<struct statx> statx_fd(int fd) {
    struct statx stx;
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0) return last_os_error();
    return stx;
}

}  // namespace bcl
