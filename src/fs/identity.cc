#include "bcachefs_lite/fs/identity.h"

#include <sys/vfs.h>

#include <cerrno>

namespace bcl {

const char* identity_name(Identity identity) { return identity == Identity::path ? "path" : "inode"; }

IdentityChoice choose_identity(IdentityOption option, CacheMode mode, long backing_fs_type) {
    if (mode == CacheMode::none) return {Identity::inode, "mode=none does not open the cache"};
    switch (option) {
    case IdentityOption::inode: return {Identity::inode, "identity=inode given"};
    case IdentityOption::path: return {Identity::path, "identity=path given"};
    case IdentityOption::automatic: break;
    }
    if (backing_fs_type != kFuseSuperMagic)
        return {Identity::inode, "the backing is not a FUSE file system, so its inode numbers last"};
    if (mode == CacheMode::writeback)
        return {Identity::inode, "the backing is a FUSE file system, but mode=writeback finds files by file handle"};
    return {Identity::path,
            "the backing is a FUSE file system, which may give a file a new inode number when the "
            "kernel forgets it"};
}

Result<long> file_system_type(const std::string& path) {
    struct statfs sf {};
    if (::statfs(path.c_str(), &sf) != 0) return sys_error(errno, "statfs of " + path);
    return static_cast<long>(sf.f_type);
}

}  // namespace bcl
