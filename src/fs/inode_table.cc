#include "inode_table.h"

namespace bcl {

InodeTable::InodeTable(UniqueFd root_fd, FileKey root_key, FileKey root_backing)
    : root_(std::make_unique<Inode>(std::move(root_fd), root_key, root_backing, S_IFDIR)) {
    root_->nlookup_ = 1;  // the mount holds it; never dropped
}

Inode& InodeTable::add_lookup(FileKey key, FileKey backing, mode_t type, UniqueFd path_fd) {
    if (backing == root_->backing) return *root_;  // e.g. a bind mount of the root inside itself
    std::unique_ptr<Inode> fresh;
    std::lock_guard lock(mutex_);
    auto it = inodes_.find({key, backing});
    if (it == inodes_.end()) {
        fresh = std::make_unique<Inode>(std::move(path_fd), key, backing, type & S_IFMT);
        Inode* added = fresh.get();
        it = inodes_.emplace(std::pair{key, backing}, std::move(fresh)).first;
        auto [first, last] = by_backing_.equal_range(backing);
        for (auto other = first; other != last; ++other) {
            other->second->aliased_.store(true, std::memory_order_release);
            added->aliased_.store(true, std::memory_order_release);
        }
        by_backing_.emplace(backing, added);
    }
    ++it->second->nlookup_;
    return *it->second;
}

void InodeTable::forget(Inode& inode, std::uint64_t count) {
    if (is_root(inode)) return;
    std::unique_ptr<Inode> dropped;  // closed after the lock is released
    {
        std::lock_guard lock(mutex_);
        if (count >= inode.nlookup_) {
            auto it = inodes_.find({inode.key, inode.backing});
            if (it != inodes_.end() && it->second.get() == &inode) {
                auto [first, last] = by_backing_.equal_range(inode.backing);
                for (auto b = first; b != last; ++b) {
                    if (b->second != &inode) continue;
                    by_backing_.erase(b);
                    break;
                }
                dropped = std::move(it->second);
                inodes_.erase(it);
            }
        } else {
            inode.nlookup_ -= count;
        }
    }
}

std::vector<FileKey> InodeTable::other_keys(const Inode& inode) {
    std::vector<FileKey> keys;
    if (!inode.aliased_.load(std::memory_order_acquire)) return keys;
    std::lock_guard lock(mutex_);
    auto [first, last] = by_backing_.equal_range(inode.backing);
    for (auto b = first; b != last; ++b)
        if (b->second->key != inode.key) keys.push_back(b->second->key);
    return keys;
}

std::size_t InodeTable::size() {
    std::lock_guard lock(mutex_);
    return inodes_.size();
}

}  // namespace bcl
