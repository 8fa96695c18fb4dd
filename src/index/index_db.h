// IndexDb: what an open Index holds — the RocksDB handle, its column
// families and the locks that serialise extent read-modify-writes — and
// the small read helpers the Index's source files share.
//
// Thread safety: the handles are set at open and read-only afterwards;
// each mutex states what it guards.
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/db.h>

#include <array>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/index/index_types.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/uuid.h"

namespace bcl::index_detail {

inline constexpr std::size_t kFileStripes = 64;

class ExtentMap;

struct IndexDb {
    std::string dir;
    Uuid uuid{};
    std::shared_ptr<rocksdb::Cache> block_cache;
    std::unique_ptr<rocksdb::DB> db;
    // Owned; destroyed before db. Set at open, never changed.
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::ColumnFamilyHandle* meta = nullptr;
    rocksdb::ColumnFamilyHandle* files = nullptr;
    rocksdb::ColumnFamilyHandle* extents = nullptr;
    rocksdb::ColumnFamilyHandle* buckets = nullptr;
    rocksdb::ColumnFamilyHandle* dirty_files = nullptr;
    // Null only in an older index opened read-only.
    rocksdb::ColumnFamilyHandle* pinned_files = nullptr;
    // Null only in an older index opened read-only.
    rocksdb::ColumnFamilyHandle* names = nullptr;
    // IndexOptions::before_durable; may be empty.
    std::function<Status()> before_durable;

    // file_stripes[stripe_of(f)] is held while the extents of file f are
    // read and then rewritten (insert, remove, drop, conditional ops).
    // Taken in increasing index order when several are needed.
    std::array<std::mutex, kFileStripes> file_stripes;

    // Whole extent lists of recently looked-up files (extent_map.h); null
    // when IndexOptions::extent_map_extents is 0. Set at open.
    std::unique_ptr<ExtentMap> extent_map;

    // Guards next_file_id and file_id_limit.
    std::mutex file_id_mutex;
    std::uint64_t next_file_id = 1;   // the next id to hand out
    std::uint64_t file_id_limit = 1;  // durable: ids below it may be in use

    IndexDb() = default;
    IndexDb(const IndexDb&) = delete;
    IndexDb& operator=(const IndexDb&) = delete;
    ~IndexDb();

    // The value at key, or nullopt.
    Result<std::optional<std::string>> get(rocksdb::ColumnFamilyHandle* cf, std::string_view key) const;
    // One synced or unsynced write of a whole batch.
    Status write(rocksdb::WriteBatch& batch, bool sync, std::string_view what);
    // The extents of `file` overlapping [start, end) as stored, in order;
    // no more than the first `max` of them.
    Result<std::vector<Extent>> read_overlapping(std::uint64_t file, std::uint64_t start, std::uint64_t end,
                                                 std::size_t max = SIZE_MAX) const;
};

std::size_t stripe_of(std::uint64_t file);

// The key prefix of everything in `meta` that is a caller's counter.
std::string counter_key(std::string_view name);
// The key in `meta` of a layer's saved state.
std::string saved_key(std::string_view name);

}  // namespace bcl::index_detail
