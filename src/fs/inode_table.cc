#include "inode_table.h"

namespace bcl {

InodeTable::InodeTable(UniqueFd root_fd, FileKey root_key)
    : root_(std::make_unique<Inode>(std::move(root_fd), root_key, S_IFDIR)) {
    root_->nlookup_ = 1;  // the mount holds it; never dropped
}

Inode& InodeTable::add_lookup(FileKey key, mode_t type, UniqueFd path_fd) {
    if (key == root_->key) return *root_;  // e.g. a bind mount of the root inside itself
    std::unique_ptr<Inode> fresh;
    std::lock_guard lock(mutex_);
    auto it = inodes_.find(key);
    if (it == inodes_.end()) {
        fresh = std::make_unique<Inode>(std::move(path_fd), key, type & S_IFMT);
        it = inodes_.emplace(key, std::move(fresh)).first;
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
            auto it = inodes_.find(inode.key);
            if (it != inodes_.end() && it->second.get() == &inode) {
                dropped = std::move(it->second);
                inodes_.erase(it);
            }
        } else {
            inode.nlookup_ -= count;
        }
    }
}

Inode* InodeTable::find(const FileKey& key) {
    if (key == root_->key) return root_.get();
    std::lock_guard lock(mutex_);
    auto it = inodes_.find(key);
    return it == inodes_.end() ? nullptr : it->second.get();
}

std::size_t InodeTable::size() {
    std::lock_guard lock(mutex_);
    return inodes_.size();
}

}  // namespace bcl
