// ExtentMap: the complete extent lists of recently looked-up files, kept in
// memory so that a lookup of such a file reads no RocksDB (a cache hit
// asks the index once per read). Bounded: when the extents it holds exceed
// its bound, the least recently used files go whole.
//
// Coherency is the caller's part (Index): a file's list goes in only as
// read from RocksDB under the file's stripe lock (IndexDb::file_stripes),
// and every commit, still holding the stripes of the files it wrote and
// only after its write succeeded, applies what it wrote. So a list in the
// map is always the file's list in RocksDB. Members named `_locked` expect
// the caller to hold the stripe of every file they name.
//
// A file is loaded at its second miss within a short while, not its first:
// lookups spread over more files than the map holds would otherwise each
// load a whole list only to evict another (at 100 extents a file, several
// times the cost of reading the one extent asked for).
//
// A file with more than max_file_extents() extents is not kept: it is
// remembered as too large (one entry), so that its lookups go to RocksDB
// without trying to load it again, until it is evicted or dropped.
//
// Thread safety: every member may be called from many threads at once.
// Files are spread over shards by stripe_of(file); a shard's mutex guards
// its files and LRU list. Shard mutexes are leaves: no two are held at
// once and nothing else is taken under one, so they nest under stripes.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/index/index_types.h"
#include "index_db.h"

namespace bcl::index_detail {

// What a commit wrote to the extents: key -> new value, none when deleted.
using ExtentChanges = std::map<ExtentKey, std::optional<ExtentValue>>;

class ExtentMap {
public:
    // max_extents: the bound, > 0. A file is charged its extents plus one
    // (so that empty and too-large files are bounded too).
    explicit ExtentMap(std::size_t max_extents);
    ExtentMap(const ExtentMap&) = delete;
    ExtentMap& operator=(const ExtentMap&) = delete;

    enum class Probe {
        hit,         // `out` holds the answer
        miss,        // not in memory, missed lately too: load it
        first_miss,  // not in memory: ask RocksDB for the range
        too_large    // known not to fit: ask RocksDB for the range
    };
    // The extents of `file` overlapping [start, end), in offset order, into
    // `out` (cleared first) when the file is in memory; marks it used.
    Probe find(std::uint64_t file, std::uint64_t start, std::uint64_t end, std::vector<Extent>& out) {
        return find_impl(file, start, end, out, true);
    }
    // The same, not counted in stats() nor as a miss: the second look of a
    // lookup about to load, under the file's stripe.
    Probe find_again_locked(std::uint64_t file, std::uint64_t start, std::uint64_t end, std::vector<Extent>& out) {
        return find_impl(file, start, end, out, false);
    }

    // Keeps `all`, the whole extent list of `file` in offset order as read
    // from RocksDB under the file's stripe, or remembers the file as too
    // large when `all` holds more than max_file_extents().
    void insert_locked(std::uint64_t file, const std::vector<Extent>& all);
    // Applies a successful commit: `changes` (of any files) and the files
    // whose extents it dropped first. Only files in memory change.
    void apply_locked(const ExtentChanges& changes, const std::set<std::uint64_t>& dropped);
    // Forgets `file` (its next lookup loads it again).
    void erase_locked(std::uint64_t file);

    std::size_t max_file_extents() const { return max_file_extents_; }
    ExtentMapStats stats() const;

private:
    static constexpr std::size_t kRecentMisses = 32;  // a shard
    struct LruNode {
        std::uint64_t file;
        std::uint64_t tick;  // when it was last used (clock_)
    };
    struct Entry {
        std::map<std::uint64_t, ExtentValue> extents;  // end offset -> value
        bool too_large = false;
        std::list<LruNode>::iterator lru;
    };
    struct alignas(64) Shard {
        mutable std::mutex mutex;
        // Guarded by mutex.
        std::unordered_map<std::uint64_t, Entry> files;
        std::list<LruNode> lru;  // most recently used first
        std::uint64_t hits = 0, misses = 0, evictions = 0;
        // Files missed lately (0: none), oldest overwritten first.
        std::array<std::uint64_t, kRecentMisses> recent_misses{};
        std::size_t next_recent = 0;
        // The tick of lru.back() (UINT64_MAX when empty), written under
        // mutex, read without it to choose a victim.
        std::atomic<std::uint64_t> oldest{UINT64_MAX};
    };

    Shard& shard_of(std::uint64_t file) { return shards_[stripe_of(file)]; }
    Probe find_impl(std::uint64_t file, std::uint64_t start, std::uint64_t end, std::vector<Extent>& out, bool count);
    void touch_locked(Shard& s, Entry& e);
    // Whether `file` missed lately; remembers it when not.
    static bool missed_before_locked(Shard& s, std::uint64_t file);
    void erase_entry_locked(Shard& s, std::unordered_map<std::uint64_t, Entry>::iterator it);
    static void note_oldest_locked(Shard& s);
    void apply_file_locked(std::uint64_t file, bool dropped, ExtentChanges::const_iterator first,
                           ExtentChanges::const_iterator last);
    // Evicts least recently used files until the charge is within bound.
    void evict_over_bound();

    const std::size_t max_extents_;
    const std::size_t max_file_extents_;
    std::atomic<std::size_t> charged_{0};  // sum of charges over all shards
    std::atomic<std::uint64_t> clock_{0};
    std::array<Shard, kFileStripes> shards_;
};

}  // namespace bcl::index_detail
