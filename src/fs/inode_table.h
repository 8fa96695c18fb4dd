// InodeTable: the inodes the kernel knows of. Each is a backing file or
// directory held through an O_PATH descriptor, so the daemon reaches it with
// *at() calls and never by path. It has two keys: its backing (st_dev,
// st_ino), which stays the same while the descriptor holds the backing
// inode, and the key the fs layer names it by to the engine (identities.h):
// the same under identity=inode; under identity=path the id of its path, so
// two names of one backing file are two inodes, and a file replaced behind
// the cache's back while the kernel held its name is another inode under
// the same key. The pair of both tells inodes apart.
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

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "bcachefs_lite/fs/file_data.h"
#include "attr_cache.h"
#include "fuse_api.h"
#include "unique_fd.h"

namespace bcl {

struct Inode {
    Inode(UniqueFd path_fd, FileKey key, FileKey backing, mode_t type)
        : fd(std::move(path_fd)), key(key), backing(backing), type(type) {}

    // O_PATH | O_NOFOLLOW descriptor of the backing file. Set at creation,
    // never changed; closed when the inode is dropped.
    const UniqueFd fd;
    // What the engine knows the file by (FileData, StatsXattrs).
    const FileKey key;
    // The backing file's (st_dev, st_ino) at creation.
    const FileKey backing;
    const mode_t type;  // S_IFMT bits
    // The attributes last read from the backing file, for getattr.
    AttrCache attrs;

    bool is_symlink() const { return S_ISLNK(type); }
    bool is_dir() const { return S_ISDIR(type); }

private:
    friend class InodeTable;
    std::uint64_t nlookup_ = 0;  // guarded by InodeTable::mutex_
    // Set once another inode of the same backing file (another key) was
    // known at the same time; never cleared.
    std::atomic<bool> aliased_{false};
};

class InodeTable {
public:
    // Takes the O_PATH descriptor of the backing directory, known as
    // `root_key`, whose (st_dev, st_ino) is `root_backing`.
    InodeTable(UniqueFd root_fd, FileKey root_key, FileKey root_backing);

    Inode& root() { return *root_; }
    bool is_root(const Inode& inode) const { return &inode == root_.get(); }

    // The inode of a node id the kernel sent.
    Inode& get(fuse_ino_t ino) {
        return ino == FUSE_ROOT_ID ? *root_ : *reinterpret_cast<Inode*>(static_cast<std::uintptr_t>(ino));
    }
    fuse_ino_t ino_of(const Inode& inode) const {
        return is_root(inode) ? FUSE_ROOT_ID : static_cast<fuse_ino_t>(reinterpret_cast<std::uintptr_t>(&inode));
    }

    // The inode for (`key`, `backing`) with one more lookup. When it is not
    // known yet it is created with `path_fd`; otherwise `path_fd` is closed.
    Inode& add_lookup(FileKey key, FileKey backing, mode_t type, UniqueFd path_fd);
    // Returns `count` lookups; drops the inode when none remain.
    void forget(Inode& inode, std::uint64_t count);
    // The keys of the other inodes of `inode`'s backing file: under
    // identity=path, its other names (hard links) the kernel holds.
    std::vector<FileKey> other_keys(const Inode& inode);

    // Number of inodes held, the root excluded.
    std::size_t size();

private:
    std::unique_ptr<Inode> root_;
    std::mutex mutex_;  // guards inodes_, by_backing_ and every Inode::nlookup_
    // Keyed by (key, backing).
    std::map<std::pair<FileKey, FileKey>, std::unique_ptr<Inode>> inodes_;
    // Every inode of inodes_ by its backing key.
    std::multimap<FileKey, Inode*> by_backing_;
};

}  // namespace bcl
