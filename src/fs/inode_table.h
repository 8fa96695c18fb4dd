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
// zero unless a remembered name still holds it (below). The root (the
// backing directory) is never dropped.
//
// Remembered names: what a lookup on the backing found for a name in a
// directory, so that another lookup of that name within the coherency
// window (or while the backing does not answer) is answered without a
// backing call, also after the kernel forgot the inode (drop_caches, memory
// pressure): the entry keeps its child and its directory alive, with their
// O_PATH descriptors. A change of the name through the mount forgets it; a
// change behind the mount's back shows once the window is over, as with
// NFS's attribute cache. The table keeps at most set_entry_limit() names, and
// drops those whose inode the kernel no longer holds once they are older
// than the window.
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

#include <optional>
#include <string>
#include <string_view>

#include "bcachefs_lite/cache/coherency_window.h"
#include "bcachefs_lite/fs/file_data.h"
#include "attr_cache.h"
#include "dir_listing.h"
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
    // A directory's entries as the backing last listed them, for readdir.
    DirListingSlot listing;
    // Set once this mount opened the directory on the backing to list it,
    // or listed it before a lookup in it (ops_common.cc, prime_listing).
    std::atomic<bool> listed{false};

    bool is_symlink() const { return S_ISLNK(type); }
    bool is_dir() const { return S_ISDIR(type); }

private:
    friend class InodeTable;
    std::uint64_t nlookup_ = 0;  // guarded by InodeTable::mutex_
    // Remembered names naming it, as their child or their directory;
    // guarded by InodeTable::mutex_.
    std::uint32_t name_refs_ = 0;
    // Set once another inode of the same backing file (another key) was
    // known at the same time; never cleared.
    std::atomic<bool> aliased_{false};
};

class InodeTable {
public:
    // Takes the O_PATH descriptor of the backing directory, known as
    // `root_key`, whose (st_dev, st_ino) is `root_backing`; names are
    // remembered for `window`.
    InodeTable(UniqueFd root_fd, FileKey root_key, FileKey root_backing, const CoherencyWindow& window);

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

    // A count of the changes of names through the mount: sampled before a
    // backing lookup or listing, compared when it is remembered.
    std::uint64_t names_generation() const { return names_generation_.load(std::memory_order_acquire); }
    // `name` in `parent` is `child`, as a lookup that began at `at_ns`
    // (CoherencyWindow::now_ns) and generation `generation` found; ignored
    // when a name changed since, or the window is 0.
    void remember(Inode& parent, std::string_view name, Inode& child, std::int64_t at_ns, std::uint64_t generation);
    struct Recalled {
        Inode* inode;
        std::int64_t at_ns;  // when the backing showed it
    };
    // The inode remembered for `name` in `parent`, with one more lookup,
    // when the backing showed it less than `max_age_ns` before `now_ns`;
    // any age when `max_age_ns` is negative (the backing does not answer).
    std::optional<Recalled> recall(Inode& parent, std::string_view name, std::int64_t now_ns, std::int64_t max_age_ns);
    // `name` in `parent` changed through the mount (created, removed,
    // renamed from or to): forgets it and the directory's listing.
    void name_changed(Inode& parent, std::string_view name);
    // `listing` becomes `dir`'s, unless a name changed since `generation`
    // or the mount's listings hold too many entries already.
    void publish_listing(Inode& dir, std::shared_ptr<DirListing> listing, std::uint64_t generation);
    // Entries held in listings now.
    std::size_t listed() const { return listing_budget_->used(); }
    // Names remembered at most; 0 remembers none.
    void set_entry_limit(std::size_t limit);
    // Names remembered now.
    std::size_t remembered();

private:
    struct NameEntry {
        Inode* child;
        std::int64_t at_ns;
        std::uint64_t order;  // its place in by_age_
    };
    using NameKey = std::pair<const Inode*, std::string>;
    // Erases `it`, and the inodes only it held (into `dropped`).
    void erase_name(std::map<NameKey, NameEntry>::iterator it, std::vector<std::unique_ptr<Inode>>& dropped);
    // Drops `inode` into `dropped` when neither the kernel nor a name holds it.
    void drop_if_unused(Inode& inode, std::vector<std::unique_ptr<Inode>>& dropped);
    // Erases the oldest names while there are `room` or fewer free, and a
    // few more when the kernel no longer holds them and they are older than
    // the window at `now_ns`.
    void sweep(std::size_t room, std::int64_t now_ns, std::vector<std::unique_ptr<Inode>>& dropped);

    std::unique_ptr<Inode> root_;
    const CoherencyWindow& window_;
    std::mutex mutex_;  // guards inodes_, by_backing_, the names and every Inode::nlookup_ and name_refs_
    // Keyed by (key, backing).
    std::map<std::pair<FileKey, FileKey>, std::unique_ptr<Inode>> inodes_;
    // Every inode of inodes_ by its backing key.
    std::multimap<FileKey, Inode*> by_backing_;
    std::map<NameKey, NameEntry> names_;
    // The names by the order they were remembered in (oldest first).
    std::map<std::uint64_t, std::map<NameKey, NameEntry>::iterator> by_age_;
    std::uint64_t next_order_ = 0;
    std::size_t entry_limit_ = 0;
    std::atomic<std::uint64_t> names_generation_{0};
    const std::shared_ptr<ListingBudget> listing_budget_ = std::make_shared<ListingBudget>();
};

}  // namespace bcl
