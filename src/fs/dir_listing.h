// DirListing: a directory's entries as one pass of readdir over the
// backing directory returned them, from the first entry to the end, kept
// on the directory's inode so that another listing within the coherency
// window (or while the backing does not answer) is answered without
// opening the backing directory. The offsets are the backing's, so a
// listing and a backing stream continue each other. A change of a name in
// the directory through the mount clears it (InodeTable::name_changed); a
// change behind the mount's back shows once the window is over.
//
// The listings of a mount share one ListingBudget of entries, so that a walk
// of a large tree keeps listings up to a bounded memory (each entry costs
// about 150 bytes) and lists the rest from the backing.
//
// Thread safety: DirListingSlot and ListingBudget may be used from any
// request thread; a DirListing is immutable once published.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bcl {

class ListingBudget {
public:
    // Entries of all the mount's listings together.
    static constexpr std::size_t kMaxEntries = 1 << 18;

    // Takes `n` entries of the budget; false (nothing taken) when they do
    // not fit.
    bool take(std::size_t n) {
        std::size_t used = used_.load(std::memory_order_relaxed);
        do {
            if (n > kMaxEntries - used) return false;
        } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
        return true;
    }
    void give(std::size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
    std::size_t used() const { return used_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::size_t> used_{0};
};

struct DirListing {
    DirListing() = default;
    DirListing(const DirListing&) = delete;
    DirListing& operator=(const DirListing&) = delete;
    ~DirListing() {
        if (budget_) budget_->give(entries.size());
    }

    struct Entry {
        std::string name;
        ino_t ino;
        unsigned char type;  // DT_*
        off_t next;          // the offset after it
    };
    // Directories with more entries are not kept: their listing would cost
    // more memory than the backing calls it saves.
    static constexpr std::size_t kMaxEntries = 1 << 16;

    std::vector<Entry> entries;
    std::int64_t at_ns = 0;  // when the pass began (CoherencyWindow::now_ns)

    // The index of the entry at offset `off` (0: the first); none for an
    // offset this listing did not give.
    std::optional<std::size_t> index_at(off_t off) const {
        if (off == 0) return 0;
        auto it = after_.find(off);
        if (it == after_.end()) return std::nullopt;
        return it->second;
    }
    // Appends the next entry of the pass; false once there are too many.
    bool add(Entry entry) {
        if (entries.size() >= kMaxEntries) return false;
        after_.emplace(entry.next, entries.size() + 1);
        entries.push_back(std::move(entry));
        return true;
    }
    // Charges the listing's entries to `budget` until it is destroyed;
    // false when they do not fit (the listing is then not to be kept).
    bool charge(std::shared_ptr<ListingBudget> budget) {
        if (!budget->take(entries.size())) return false;
        budget_ = std::move(budget);
        return true;
    }

private:
    std::unordered_map<off_t, std::size_t> after_;  // offset -> index of the entry there
    std::shared_ptr<ListingBudget> budget_;         // charged with entries.size(), when set
};

class DirListingSlot {
public:
    std::shared_ptr<const DirListing> get() const {
        std::lock_guard lk(mutex_);
        return listing_;
    }
    void set(std::shared_ptr<const DirListing> listing) {
        std::lock_guard lk(mutex_);
        listing_ = std::move(listing);
    }
    void clear() { set(nullptr); }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const DirListing> listing_;
};

}  // namespace bcl
