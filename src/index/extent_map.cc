#include "extent_map.h"

#include <algorithm>

namespace bcl::index_detail {

namespace {

// Larger files are not kept: one of them would push out a great many
// small ones, and the files a bound of that size is for read few extents
// per lookup anyway.
constexpr std::size_t kMaxFileShare = 8;

std::size_t charge_of(std::size_t extents) { return extents + 1; }

}  // namespace

ExtentMap::ExtentMap(std::size_t max_extents)
    : max_extents_(max_extents), max_file_extents_(max_extents / kMaxFileShare) {}

ExtentMap::Probe ExtentMap::find_impl(std::uint64_t file, std::uint64_t start, std::uint64_t end,
                                      std::vector<Extent>& out, bool count) {
    out.clear();
    Shard& s = shard_of(file);
    std::lock_guard lock(s.mutex);
    auto it = s.files.find(file);
    if (it == s.files.end()) {
        if (!count) return Probe::miss;
        ++s.misses;
        return missed_before_locked(s, file) ? Probe::miss : Probe::first_miss;
    }
    Entry& e = it->second;
    touch_locked(s, e);
    if (e.too_large) {
        s.misses += count;
        return Probe::too_large;
    }
    s.hits += count;
    // Keyed by end offset: the first extent ending after start is the
    // first that may overlap, as in RocksDB.
    for (auto x = e.extents.upper_bound(start); x != e.extents.end(); ++x) {
        Extent ext{ExtentKey{file, x->first}, x->second};
        if (ext.start() >= end) break;
        out.push_back(ext);
    }
    return Probe::hit;
}

void ExtentMap::insert_locked(std::uint64_t file, const std::vector<Extent>& all) {
    {
        Shard& s = shard_of(file);
        std::lock_guard lock(s.mutex);
        if (auto old = s.files.find(file); old != s.files.end()) erase_entry_locked(s, old);
        Entry& e = s.files[file];
        if (all.size() > max_file_extents_) {
            e.too_large = true;
        } else {
            for (const Extent& x : all) e.extents.emplace_hint(e.extents.end(), x.key.end, x.value);
        }
        s.lru.push_front(LruNode{file, 0});
        e.lru = s.lru.begin();
        touch_locked(s, e);
        charged_ += charge_of(e.extents.size());
    }
    evict_over_bound();
}

void ExtentMap::apply_locked(const ExtentChanges& changes, const std::set<std::uint64_t>& dropped) {
    auto it = changes.begin();
    while (it != changes.end()) {
        const std::uint64_t file = it->first.file;
        auto next = changes.lower_bound(ExtentKey{file + 1, 0});
        if (file == UINT64_MAX) next = changes.end();
        apply_file_locked(file, dropped.contains(file), it, next);
        it = next;
    }
    // Files dropped with nothing put after the drop.
    for (std::uint64_t file : dropped) {
        auto c = changes.lower_bound(ExtentKey{file, 0});
        if (c == changes.end() || c->first.file != file) apply_file_locked(file, true, c, c);
    }
    evict_over_bound();
}

void ExtentMap::apply_file_locked(std::uint64_t file, bool dropped, ExtentChanges::const_iterator first,
                                  ExtentChanges::const_iterator last) {
    Shard& s = shard_of(file);
    std::lock_guard lock(s.mutex);
    auto it = s.files.find(file);
    if (it == s.files.end()) return;
    Entry& e = it->second;
    if (e.too_large) {
        // Still too large, most likely; an emptied file may fit again.
        if (dropped) erase_entry_locked(s, it);
        return;
    }
    const std::size_t before = e.extents.size();
    if (dropped) e.extents.clear();
    for (auto c = first; c != last; ++c) {
        if (c->second)
            e.extents.insert_or_assign(c->first.end, *c->second);
        else
            e.extents.erase(c->first.end);
    }
    if (e.extents.size() > max_file_extents_) {
        e.extents.clear();
        e.too_large = true;
    }
    // The charge is extents + 1 both before and after.
    if (e.extents.size() >= before)
        charged_ += e.extents.size() - before;
    else
        charged_ -= before - e.extents.size();
}

void ExtentMap::erase_locked(std::uint64_t file) {
    Shard& s = shard_of(file);
    std::lock_guard lock(s.mutex);
    if (auto it = s.files.find(file); it != s.files.end()) erase_entry_locked(s, it);
}

void ExtentMap::touch_locked(Shard& s, Entry& e) {
    e.lru->tick = clock_.fetch_add(1, std::memory_order_relaxed);
    s.lru.splice(s.lru.begin(), s.lru, e.lru);
    note_oldest_locked(s);
}

bool ExtentMap::missed_before_locked(Shard& s, std::uint64_t file) {
    if (std::find(s.recent_misses.begin(), s.recent_misses.end(), file) != s.recent_misses.end()) return true;
    s.recent_misses[s.next_recent] = file;
    s.next_recent = (s.next_recent + 1) % s.recent_misses.size();
    return false;
}

void ExtentMap::erase_entry_locked(Shard& s, std::unordered_map<std::uint64_t, Entry>::iterator it) {
    charged_ -= charge_of(it->second.extents.size());
    s.lru.erase(it->second.lru);
    s.files.erase(it);
    note_oldest_locked(s);
}

void ExtentMap::note_oldest_locked(Shard& s) {
    s.oldest.store(s.lru.empty() ? UINT64_MAX : s.lru.back().tick, std::memory_order_relaxed);
}

void ExtentMap::evict_over_bound() {
    while (charged_.load() > max_extents_) {
        // The shard whose least recently used file is the oldest: an LRU
        // over all shards, as near as ticks read without locks allow.
        std::size_t victim = 0;
        std::uint64_t oldest = UINT64_MAX;
        for (std::size_t i = 0; i < shards_.size(); ++i) {
            const std::uint64_t t = shards_[i].oldest.load(std::memory_order_relaxed);
            if (t < oldest) oldest = t, victim = i;
        }
        if (oldest == UINT64_MAX) return;
        Shard& s = shards_[victim];
        std::lock_guard lock(s.mutex);
        if (s.lru.empty()) {
            note_oldest_locked(s);
            continue;
        }
        erase_entry_locked(s, s.files.find(s.lru.back().file));
        ++s.evictions;
    }
}

ExtentMapStats ExtentMap::stats() const {
    ExtentMapStats out;
    out.max_extents = max_extents_;
    for (const Shard& s : shards_) {
        std::lock_guard lock(s.mutex);
        out.files += s.files.size();
        for (const auto& [file, e] : s.files) {
            out.extents += e.extents.size();
            if (e.too_large) ++out.too_large;
        }
        out.hits += s.hits;
        out.misses += s.misses;
        out.evictions += s.evictions;
    }
    return out;
}

}  // namespace bcl::index_detail
