// DirListing: a directory's entries as one pass of readdir over the
// backing directory returned them, from the first entry to the end, kept
// on the directory's inode so that another listing within the coherency
// window (or while the backing does not answer) is answered without
// opening the backing directory. The offsets are the backing's, so a
// listing and a backing stream continue each other. A change of a name in
// the directory through the mount clears it (InodeTable::name_changed); a
// change behind the mount's back shows once the window is over.
//
// Thread safety: DirListingSlot may be used from any request thread; a
// DirListing is immutable once published.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bcl {

struct DirListing {
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

private:
    std::unordered_map<off_t, std::size_t> after_;  // offset -> index of the entry there
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
