// IndexBatch: index updates staged by a caller and applied by
// Index::commit() as one atomic RocksDB write. It lets the cache engine
// put an extent insert, a file record and a counter in the same commit.
//
// Operations apply in the order they were staged; each one sees the effect
// of those before it (an insert after a remove_range of the same file
// resolves its overlaps against what the remove left). Nothing is checked
// or read until commit(): an invalid operation fails the whole commit and
// nothing is written.
//
// Thread safety: none; a batch belongs to one thread until committed. A
// committed batch is empty and may be reused; a moved-from batch may only
// be assigned to or destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "bcachefs_lite/index/bucket_format.h"
#include "bcachefs_lite/index/dirty_file_format.h"
#include "bcachefs_lite/index/extent_format.h"
#include "bcachefs_lite/index/file_format.h"
#include "bcachefs_lite/index/name_format.h"

namespace bcl {

class Index;

class IndexBatch {
public:
    IndexBatch();
    ~IndexBatch();
    IndexBatch(IndexBatch&&) noexcept;
    IndexBatch& operator=(IndexBatch&&) noexcept;
    IndexBatch(const IndexBatch&) = delete;
    IndexBatch& operator=(const IndexBatch&) = delete;

    // The record for (id.dev, id.ino); its btime_ns is set to id.btime_ns.
    void put_file(const FileIdentity& id, const FileRecord& record);
    void delete_file(const FileIdentity& id);

    // Indexes [offset, offset + value.length) of `file` at value's place on
    // the device, cutting away whatever other extents held in that range
    // (see Index::insert_extent).
    void insert_extent(std::uint64_t file, std::uint64_t offset, const ExtentValue& value);
    // Unindexes [start, end) of `file`, trimming or splitting extents that
    // straddle its edges.
    void remove_range(std::uint64_t file, std::uint64_t start, std::uint64_t end);
    // Unindexes every extent of `file` with one range deletion.
    void drop_file_extents(std::uint64_t file);
    // Deletes the extent at `key` if it still equals `expected`; otherwise
    // leaves it and reports key in CommitResult::skipped. For GC: an extent
    // found stale may have been replaced since.
    void delete_extent_if_unchanged(const ExtentKey& key, const ExtentValue& expected);
    // Replaces the extent at `key` with `replacement` (same length) if it
    // still equals `expected`; otherwise reports key in
    // CommitResult::skipped. For writeback marking an extent clean.
    void replace_extent_if_unchanged(const ExtentKey& key, const ExtentValue& expected, const ExtentValue& replacement);
    // Deletes an entry of the extents column family by its stored key, with
    // no check: for fsck removing an entry whose key or value is corrupt
    // (ExtentCursor::raw_key()).
    void erase_raw_extent(std::string_view raw_key);

    // Buckets' gens and prios of cache device `device`.
    void put_bucket_gens(std::uint32_t device, std::span<const BucketGenRecord> records);
    // The dirty-file record of `file_id` (dirty_file_format.h).
    void put_dirty_file(std::uint64_t file_id, const DirtyFileRecord& record);
    void delete_dirty_file(std::uint64_t file_id);
    // The file-handle record of a pinned file or of a directory whose pin
    // walk is under way, keyed by (record.dev, record.ino) (index_format.h).
    void put_pinned_file(const DirtyFileRecord& record);
    void delete_pinned_file(std::uint64_t dev, std::uint64_t ino);
    // The name record of `name` in directory `parent` (name_format.h).
    void put_name(std::uint64_t parent, std::string_view name, const NameRecord& record);
    void delete_name(std::uint64_t parent, std::string_view name);
    // A named counter in `meta`.
    void put_counter(std::string_view name, std::uint64_t value);
    // A layer's saved state `name` becomes `bytes` (Index::get_saved).
    void put_saved(std::string_view name, std::string_view bytes);

    bool empty() const;
    std::size_t size() const;  // staged operations
    void clear();

private:
    friend class Index;
    struct Ops;
    std::unique_ptr<Ops> ops_;
};

}  // namespace bcl
