// How a walk over the extents reads the index: a point in time shared by
// several cursors, a key range, and read-ahead. For a pass that splits the
// extents into ranges walked by several threads at once (GC), so that all
// of them see the index as it was at one moment.
//
// Thread safety: an IndexSnapshot may be used by many threads at once; it
// must be destroyed before its Index. ExtentScanOptions is a plain value.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>

#include "bcachefs_lite/index/extent_format.h"

namespace bcl {

// The index as it was when Index::take_snapshot() made it. It holds no file
// open and no memtable, but keeps compaction from dropping what changed
// since (overwritten or deleted entries): release it when the walk is done.
class IndexSnapshot {
public:
    struct Impl;
    explicit IndexSnapshot(std::unique_ptr<Impl> impl);
    ~IndexSnapshot();
    IndexSnapshot(const IndexSnapshot&) = delete;
    IndexSnapshot& operator=(const IndexSnapshot&) = delete;
    const Impl& impl() const { return *impl_; }

private:
    std::unique_ptr<Impl> impl_;
};

struct ExtentScanOptions {
    // Where the walk stops: the first key it does not return (RocksDB's
    // iterate_upper_bound, so the cursor reads no block past it). Default:
    // none (to the last extent).
    std::optional<ExtentKey> end;
    // The view to read. Default: null (the latest, as when the cursor is
    // made).
    const IndexSnapshot* snapshot = nullptr;
    // Bytes of table file read at once ahead of the cursor; 0 leaves it to
    // RocksDB's own read-ahead, which starts small for every new cursor.
    // Default: 0.
    std::size_t readahead_bytes = 0;
};

}  // namespace bcl
