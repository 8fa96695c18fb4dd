#include "inode_table.h"

#include <algorithm>

namespace bcl {

InodeTable::InodeTable(UniqueFd root_fd, FileKey root_key, FileKey root_backing, const CoherencyWindow& window)
    : root_(std::make_unique<Inode>(std::move(root_fd), root_key, root_backing, S_IFDIR)), window_(window) {
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
    std::vector<std::unique_ptr<Inode>> dropped;  // closed after the lock is released
    std::lock_guard lock(mutex_);
    inode.nlookup_ -= std::min(count, inode.nlookup_);
    drop_if_unused(inode, dropped);
    if (!names_.empty()) sweep(0, CoherencyWindow::now_ns(), dropped);
}

void InodeTable::drop_if_unused(Inode& inode, std::vector<std::unique_ptr<Inode>>& dropped) {
    if (is_root(inode) || inode.nlookup_ != 0 || inode.name_refs_ != 0) return;
    auto it = inodes_.find({inode.key, inode.backing});
    if (it == inodes_.end() || it->second.get() != &inode) return;
    auto [first, last] = by_backing_.equal_range(inode.backing);
    for (auto b = first; b != last; ++b) {
        if (b->second != &inode) continue;
        by_backing_.erase(b);
        break;
    }
    dropped.push_back(std::move(it->second));
    inodes_.erase(it);
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

void InodeTable::remember(Inode& parent, std::string_view name, Inode& child, std::int64_t at_ns,
                          std::uint64_t generation) {
    std::vector<std::unique_ptr<Inode>> dropped;
    std::lock_guard lock(mutex_);
    if (entry_limit_ == 0 || window_.ns() <= 0 || generation != names_generation_.load(std::memory_order_acquire))
        return;
    // Held first, so that nothing erased below drops them.
    ++parent.name_refs_;
    ++child.name_refs_;
    NameKey key{&parent, std::string(name)};
    if (auto old = names_.find(key); old != names_.end()) erase_name(old, dropped);
    sweep(1, at_ns, dropped);
    const std::uint64_t order = next_order_++;
    auto it = names_.emplace(std::move(key), NameEntry{&child, at_ns, order}).first;
    by_age_.emplace(order, it);
}

void InodeTable::sweep(std::size_t room, std::int64_t now_ns, std::vector<std::unique_ptr<Inode>>& dropped) {
    const std::int64_t window = window_.ns();
    // A few aged names per call: enough to keep up with the calls that add.
    // An aged name whose inode the kernel still holds costs nothing (the
    // inode is there anyway) and goes to the back.
    for (int aged = 0; !by_age_.empty();) {
        auto oldest = by_age_.begin()->second;
        if (names_.size() + room > entry_limit_) {
            erase_name(oldest, dropped);
            continue;
        }
        if (aged++ >= 4 || now_ns - oldest->second.at_ns < window) break;
        if (oldest->second.child->nlookup_ == 0) {
            erase_name(oldest, dropped);
            continue;
        }
        by_age_.erase(by_age_.begin());
        oldest->second.order = next_order_++;
        by_age_.emplace(oldest->second.order, oldest);
    }
}

std::optional<InodeTable::Recalled> InodeTable::recall(Inode& parent, std::string_view name, std::int64_t now_ns,
                                                       std::int64_t max_age_ns) {
    std::lock_guard lock(mutex_);
    auto it = names_.find(NameKey{&parent, std::string(name)});
    if (it == names_.end()) return std::nullopt;
    const NameEntry& entry = it->second;
    if (max_age_ns >= 0 && now_ns - entry.at_ns >= max_age_ns) return std::nullopt;
    ++entry.child->nlookup_;
    return Recalled{entry.child, entry.at_ns};
}

void InodeTable::name_changed(Inode& parent, std::string_view name) {
    std::vector<std::unique_ptr<Inode>> dropped;
    {
        std::lock_guard lock(mutex_);
        names_generation_.fetch_add(1, std::memory_order_acq_rel);
        if (auto it = names_.find(NameKey{&parent, std::string(name)}); it != names_.end()) erase_name(it, dropped);
        parent.listing.clear();
    }
}

void InodeTable::publish_listing(Inode& dir, std::shared_ptr<DirListing> listing, std::uint64_t generation) {
    std::shared_ptr<const DirListing> replaced = dir.listing.get();  // its budget goes back outside the lock
    std::lock_guard lock(mutex_);
    if (generation != names_generation_.load(std::memory_order_acquire)) return;
    dir.listing.clear();
    if (listing->charge(listing_budget_)) dir.listing.set(std::move(listing));
}

void InodeTable::erase_name(std::map<NameKey, NameEntry>::iterator it, std::vector<std::unique_ptr<Inode>>& dropped) {
    Inode& parent = *const_cast<Inode*>(it->first.first);
    Inode& child = *it->second.child;
    by_age_.erase(it->second.order);
    names_.erase(it);
    --parent.name_refs_;
    --child.name_refs_;
    drop_if_unused(child, dropped);
    drop_if_unused(parent, dropped);
}

void InodeTable::set_entry_limit(std::size_t limit) {
    std::vector<std::unique_ptr<Inode>> dropped;
    std::lock_guard lock(mutex_);
    entry_limit_ = limit;
    while (names_.size() > limit) erase_name(by_age_.begin()->second, dropped);
}

std::size_t InodeTable::remembered() {
    std::lock_guard lock(mutex_);
    return names_.size();
}

}  // namespace bcl
