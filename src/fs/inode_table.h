// InodeTable: the inodes the kernel knows of. Each is a backing file or
// directory identified by its (st_dev, st_ino) and held through an O_PATH
// descriptor, so the daemon reaches it with *at() calls and never by path.
// An inode lives while the kernel holds lookups on it: every entry reply adds
// one, forget() removes what the kernel returns, and the inode is dropped at
// zero. The root (the backing directory) is never dropped.
//
// The kernel's node id of an inode is its address (FUSE_ROOT_ID for the root);
// it stays valid while the kernel has lookups on it, which is all the time a
// request can name it.
//
// Thread safety: all members may be called concurrently.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "bcachefs_lite/fs/file_data.h"
#include "fuse_api.h"
#include "unique_fd.h"

namespace bcl {

struct Inode {
    Inode(UniqueFd path_fd, FileKey key, mode_t type) : fd(std::move(path_fd)), key(key), type(type) {}

    // O_PATH | O_NOFOLLOW descriptor of the backing file. Set at creation,
    // never changed; closed when the inode is dropped.
    const UniqueFd fd;
    const FileKey key;
    const mode_t type;  // S_IFMT bits

    bool is_symlink() const { return S_ISLNK(type); }
    bool is_dir() const { return S_ISDIR(type); }

private:
    friend class InodeTable;
    std::uint64_t nlookup_ = 0;  // guarded by InodeTable::mutex_
};

class InodeTable {
public:
    // Takes the O_PATH descriptor of the backing directory.
    InodeTable(UniqueFd root_fd, FileKey root_key);

    Inode& root() { return *root_; }
    bool is_root(const Inode& inode) const { return &inode == root_.get(); }

    // The inode of a node id the kernel sent.
    Inode& get(fuse_ino_t ino) {
        return ino == FUSE_ROOT_ID ? *root_ : *reinterpret_cast<Inode*>(static_cast<std::uintptr_t>(ino));
    }
    fuse_ino_t ino_of(const Inode& inode) const {
        return is_root(inode) ? FUSE_ROOT_ID : static_cast<fuse_ino_t>(reinterpret_cast<std::uintptr_t>(&inode));
    }

    // The inode for `key` with one more lookup. When it is not known yet it is
    // created with `path_fd`; otherwise `path_fd` is closed.
    Inode& add_lookup(FileKey key, mode_t type, UniqueFd path_fd);
    // Returns `count` lookups; drops the inode when none remain.
    void forget(Inode& inode, std::uint64_t count);
    // The inode for `key` if the kernel holds it, without adding a lookup.
    // The pointer is only safe to use while the kernel pins the inode (for
    // example, during a request that names it).
    Inode* find(const FileKey& key);

    // Number of inodes held, the root excluded.
    std::size_t size();

private:
    std::unique_ptr<Inode> root_;
    std::mutex mutex_;  // guards inodes_ and every Inode::nlookup_
    std::map<FileKey, std::unique_ptr<Inode>> inodes_;
};

}  // namespace bcl
