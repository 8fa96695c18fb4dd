#include "index_options.h"

#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include <rocksdb/listener.h>

#include <algorithm>

#include "bcachefs_lite/index/index_format.h"

namespace bcl::index_detail {

namespace {

// The lightest compression this RocksDB build has; none if it has none.
rocksdb::CompressionType pick_compression() {
    const auto have = rocksdb::GetSupportedCompressions();
    for (auto want : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression})
        if (std::find(have.begin(), have.end(), want) != have.end()) return want;
    return rocksdb::kNoCompression;
}

// Runs IndexOptions::before_durable before RocksDB writes a memtable to a
// table file: that makes the memtable's unsynced writes durable, so the
// cache data they point to must be durable first (rule 8 of index_format.h).
class BeforeFlush final : public rocksdb::EventListener {
public:
    explicit BeforeFlush(std::function<Status()> hook) : hook_(std::move(hook)) {}
    void OnFlushBegin(rocksdb::DB*, const rocksdb::FlushJobInfo&) override {
        // A failure cannot stop the flush; the engine logs and counts it.
        (void)hook_();
    }

private:
    std::function<Status()> hook_;
};

}  // namespace

rocksdb::DBOptions make_db_options(const IndexOptions& options) {
    rocksdb::DBOptions db;
    db.create_if_missing = options.create_if_missing;
    db.create_missing_column_families = options.create_if_missing;
    db.max_open_files = options.max_open_files;
    db.bytes_per_sync = 1u << 20;
    // No background WAL syncs: the WAL becomes durable only through a
    // synced write or Index::sync(), which run before_durable first.
    db.wal_bytes_per_sync = 0;
    // Small column families would otherwise keep old WAL files alive.
    db.max_total_wal_size = 64u << 20;
    db.max_background_jobs = 2;
    db.keep_log_file_num = 4;
    db.max_log_file_size = 4u << 20;
    db.paranoid_checks = true;
    if (options.before_durable) db.listeners.push_back(std::make_shared<BeforeFlush>(options.before_durable));
    return db;
}

rocksdb::ColumnFamilyOptions make_cf_options(const IndexOptions& options, std::string_view name,
                                             const std::shared_ptr<rocksdb::Cache>& block_cache) {
    rocksdb::ColumnFamilyOptions cf;
    cf.write_buffer_size = options.write_buffer_bytes;
    cf.max_write_buffer_number = 2;
    cf.level_compaction_dynamic_level_bytes = true;
    cf.target_file_size_base = 16u << 20;
    cf.max_bytes_for_level_base = 64u << 20;
    cf.compression = pick_compression();

    rocksdb::BlockBasedTableOptions table;
    table.block_cache = block_cache;
    // Index and filter blocks live in (and are bounded by) the block cache.
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
    table.format_version = 5;
    if (name == kExtentsColumnFamily) {
        // Lookups seek within one file: filter on the 8-byte file id.
        cf.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));
        table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
        table.whole_key_filtering = false;
    } else if (name == kFilesColumnFamily || name == kNamesColumnFamily) {
        // Point lookups, most of them of names or files the index holds.
        table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    }
    table.optimize_filters_for_memory = true;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    return cf;
}

}  // namespace bcl::index_detail
