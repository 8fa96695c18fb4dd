// How a mount recognises a backing file again (identity=auto|inode|path).
//
// - inode: by its (st_dev, st_ino), checked with birth time, size, mtime
//   and ctime (FileRecord::matches). Right where inode numbers last: ext4,
//   xfs, NFS.
// - path: by its path below the backing root, with the same checks but for
//   the inode number. For backings that give a file a new inode number when
//   the kernel forgets it (sshfs, rclone and other FUSE file systems built
//   on libfuse's high-level API). Each name has an id in the index
//   (cache/name_table.h); renames and removals through the mount move and
//   drop ids, so cached data follows a file renamed through the mount.
//   Two names of one file (hard links) are two files to the cache.
//   Writeback and pinned directories are refused: they find files by file
//   handle or inode number.
// - auto: path on a FUSE backing (statfs f_type FUSE_SUPER_MAGIC), inode
//   elsewhere, and inode whatever the backing when mode=writeback asks for
//   file handles.
//
// Thread safety: plain values and functions.
#pragma once

#include <string>

#include "bcachefs_lite/cache/cache_mode.h"
#include "bcachefs_lite/fs/mount_options.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

enum class Identity { inode, path };

const char* identity_name(Identity identity);

// statfs(2) f_type of every FUSE file system.
inline constexpr long kFuseSuperMagic = 0x65735546;

struct IdentityChoice {
    Identity identity = Identity::inode;
    std::string reason;  // why, for the mount's log line
};

// The identity a mount with `option` and cache `mode` uses over a backing
// of file system type `backing_fs_type` (statfs f_type).
IdentityChoice choose_identity(IdentityOption option, CacheMode mode, long backing_fs_type);

// statfs(2) f_type of the file system that holds `path`.
Result<long> file_system_type(const std::string& path);

}  // namespace bcl
