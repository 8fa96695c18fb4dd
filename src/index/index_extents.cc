// Index: extent operations (the mutations go through commit()).
#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "bcachefs_lite/index/index.h"
#include "extent_map.h"
#include "index_db.h"

namespace bcl {

using namespace index_detail;

Result<std::vector<ExtentOverwrite>> Index::insert_extent(std::uint64_t file, std::uint64_t offset,
                                                          const ExtentValue& value, bool sync) {
    IndexBatch batch;
    batch.insert_extent(file, offset, value);
    auto r = commit(batch, sync);
    if (!r) return r.error();
    return std::move(r.value().overwrites);
}

Result<std::vector<ExtentOverwrite>> Index::remove_range(std::uint64_t file, std::uint64_t start, std::uint64_t end,
                                                         bool sync) {
    IndexBatch batch;
    batch.remove_range(file, start, end);
    auto r = commit(batch, sync);
    if (!r) return r.error();
    return std::move(r.value().overwrites);
}

Status Index::drop_file_extents(std::uint64_t file, bool sync) {
    IndexBatch batch;
    batch.drop_file_extents(file);
    auto r = commit(batch, sync);
    if (!r) return r.error();
    return ok();
}

namespace {

// The extents of a file's whole list `all` that overlap [start, end).
std::vector<Extent> overlapping(const std::vector<Extent>& all, std::uint64_t start, std::uint64_t end) {
    auto first = std::upper_bound(all.begin(), all.end(), start,
                                  [](std::uint64_t offset, const Extent& e) { return offset < e.end(); });
    std::vector<Extent> out;
    for (auto it = first; it != all.end() && it->start() < end; ++it) out.push_back(*it);
    return out;
}

// A lookup the extent map missed a second time: loads the file's whole list into it and
// answers from that. The load reads under the file's stripe, which every
// commit of the file holds while it writes and updates the map, so the
// list it keeps cannot be older than a commit.
Result<std::vector<Extent>> load_and_lookup(IndexDb& db, std::uint64_t file, std::uint64_t start, std::uint64_t end) {
    ExtentMap& map = *db.extent_map;
    std::unique_lock stripe(db.file_stripes[stripe_of(file)]);
    std::vector<Extent> out;
    // Another lookup may have loaded it while this one waited.
    const ExtentMap::Probe probe = map.find_again_locked(file, start, end, out);
    if (probe == ExtentMap::Probe::hit) return out;
    if (probe == ExtentMap::Probe::miss) {
        // One more than fits is enough to know it does not.
        auto all = db.read_overlapping(file, 0, UINT64_MAX, map.max_file_extents() + 1);
        if (all) {
            map.insert_locked(file, all.value());
            if (all.value().size() <= map.max_file_extents()) return overlapping(all.value(), start, end);
        }
        // A list that does not read whole (a corrupt entry) is not kept:
        // the range alone may still read, as it would without the map.
    }
    stripe.unlock();
    return db.read_overlapping(file, start, end);
}

}  // namespace

Result<std::vector<Extent>> Index::lookup(std::uint64_t file, std::uint64_t start, std::uint64_t end) const {
    if (start >= end) return std::vector<Extent>();
    if (!db_->extent_map) return db_->read_overlapping(file, start, end);
    std::vector<Extent> out;
    switch (db_->extent_map->find(file, start, end, out)) {
    case ExtentMap::Probe::hit: return out;
    case ExtentMap::Probe::first_miss:
    case ExtentMap::Probe::too_large: return db_->read_overlapping(file, start, end);
    case ExtentMap::Probe::miss: break;
    }
    return load_and_lookup(*db_, file, start, end);
}

ExtentMapStats Index::extent_map_stats() const {
    if (!db_->extent_map) return ExtentMapStats{};
    return db_->extent_map->stats();
}

Status Index::for_each_extent(const std::function<bool(const Extent&)>& visit) const {
    auto cursor = scan_extents();
    for (; cursor->valid(); cursor->next()) {
        auto key = cursor->key();
        if (!key) return key.error();
        auto value = cursor->value();
        if (!value)
            return make_error(value.error().code,
                              fmt::format("index {}: extent (file {}, end {}): {}", db_->dir, key.value().file,
                                          key.value().end, value.error().message));
        if (!visit(Extent{key.value(), value.value()})) return ok();
    }
    return cursor->status();
}

}  // namespace bcl
