// RocksDB options for the index: a small metadata database that must stay
// within a modest memory budget (DESIGN.md, "Scale").
//
// Thread safety: pure functions.
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/options.h>

#include <memory>
#include <string_view>

#include "bcachefs_lite/index/index.h"

namespace bcl::index_detail {

rocksdb::DBOptions make_db_options(const IndexOptions& options);

// Options of the column family `name` (one of the *ColumnFamily names of
// index_format.h, or RocksDB's "default"), sharing `block_cache`.
rocksdb::ColumnFamilyOptions make_cf_options(const IndexOptions& options, std::string_view name,
                                             const std::shared_ptr<rocksdb::Cache>& block_cache);

}  // namespace bcl::index_detail
