#include "bcachefs_lite/index/extent_cursor.h"

#include <fmt/format.h>
#include <rocksdb/db.h>

#include "bcachefs_lite/index/index.h"
#include "index_db.h"
#include "rocks_error.h"

namespace bcl {

struct ExtentCursor::Impl {
    std::unique_ptr<rocksdb::Iterator> it;
    std::string dir;
    // Backs ReadOptions::iterate_upper_bound, which must outlive the iterator.
    std::string end_key;
    rocksdb::Slice end_slice;
};

struct IndexSnapshot::Impl {
    rocksdb::DB* db = nullptr;
    const rocksdb::Snapshot* snapshot = nullptr;
};

IndexSnapshot::IndexSnapshot(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IndexSnapshot::~IndexSnapshot() { impl_->db->ReleaseSnapshot(impl_->snapshot); }

ExtentCursor::ExtentCursor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExtentCursor::~ExtentCursor() = default;

bool ExtentCursor::valid() const { return impl_->it->Valid(); }

Result<ExtentKey> ExtentCursor::key() const {
    const auto k = impl_->it->key();
    auto key = decode_extent_key(std::string_view(k.data(), k.size()));
    if (!key) return make_error(key.error().code, fmt::format("index {}: {}", impl_->dir, key.error().message));
    return key.value();
}

Result<ExtentValue> ExtentCursor::value() const {
    const auto v = impl_->it->value();
    return decode_extent_value(std::string_view(v.data(), v.size()));
}

std::string ExtentCursor::raw_key() const { return impl_->it->key().ToString(); }

void ExtentCursor::next() { impl_->it->Next(); }

Status ExtentCursor::status() const {
    if (!impl_->it->status().ok())
        return index_detail::rocks_error(impl_->it->status(), fmt::format("index {}: scan extents", impl_->dir));
    return ok();
}

std::unique_ptr<ExtentCursor> Index::scan_extents(const ExtentKey& from) const {
    return scan_extents(from, ExtentScanOptions{});
}

std::unique_ptr<ExtentCursor> Index::scan_extents(const ExtentKey& from, const ExtentScanOptions& options) const {
    auto impl = std::make_unique<ExtentCursor::Impl>();
    rocksdb::ReadOptions ro;
    ro.total_order_seek = true;  // across files, ignoring the prefix filter
    ro.fill_cache = false;       // a full walk would evict the lookups' blocks
    ro.readahead_size = options.readahead_bytes;
    if (options.snapshot) ro.snapshot = options.snapshot->impl().snapshot;
    if (options.end) {
        impl->end_key = encode_extent_key(*options.end);
        impl->end_slice = rocksdb::Slice(impl->end_key);
        ro.iterate_upper_bound = &impl->end_slice;
    }
    impl->it.reset(db_->db->NewIterator(ro, db_->extents));
    impl->dir = db_->dir;
    impl->it->Seek(encode_extent_key(from));
    return std::unique_ptr<ExtentCursor>(new ExtentCursor(std::move(impl)));
}

std::unique_ptr<IndexSnapshot> Index::take_snapshot() const {
    auto impl = std::make_unique<IndexSnapshot::Impl>();
    impl->db = db_->db.get();
    impl->snapshot = db_->db->GetSnapshot();
    return std::make_unique<IndexSnapshot>(std::move(impl));
}

}  // namespace bcl
