#include "index_db.h"

#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include "bcachefs_lite/index/extent_format.h"
#include "bcachefs_lite/index/index_format.h"
#include "extent_map.h"
#include "rocks_error.h"

namespace bcl::index_detail {

IndexDb::~IndexDb() {
    if (!db) return;
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    handles.clear();
    // Close() only fails to report background errors; the WAL holds the
    // writes either way.
    db->Close().PermitUncheckedError();
    db.reset();
}

Result<std::optional<std::string>> IndexDb::get(rocksdb::ColumnFamilyHandle* cf, std::string_view key) const {
    std::string value;
    auto s = db->Get(rocksdb::ReadOptions(), cf, rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return rocks_error(s, fmt::format("index {}: read", dir));
    return std::optional<std::string>(std::move(value));
}

Status IndexDb::write(rocksdb::WriteBatch& batch, bool sync, std::string_view what) {
    if (sync && before_durable) BCL_TRY(before_durable());
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    auto s = db->Write(wo, &batch);
    if (!s.ok()) return rocks_error(s, fmt::format("index {}: {}", dir, what));
    return ok();
}

Result<std::vector<Extent>> IndexDb::read_overlapping(std::uint64_t file, std::uint64_t start, std::uint64_t end,
                                                      std::size_t max) const {
    std::vector<Extent> out;
    rocksdb::ReadOptions ro;
    ro.prefix_same_as_start = true;  // the 8-byte file id is the prefix
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, extents));
    const std::string seek = encode_extent_key(ExtentKey{file, start + 1});
    for (it->Seek(seek); it->Valid() && out.size() < max; it->Next()) {
        auto key = decode_extent_key(std::string_view(it->key().data(), it->key().size()));
        if (!key) return key.error();
        if (key.value().file != file) break;
        auto value = decode_extent_value(std::string_view(it->value().data(), it->value().size()));
        if (!value)
            return make_error(value.error().code,
                              fmt::format("index {}: extent (file {}, end {}): {}", dir, key.value().file,
                                          key.value().end, value.error().message));
        Extent e{key.value(), value.value()};
        if (e.start() >= end) break;
        out.push_back(e);
    }
    if (!it->status().ok()) return rocks_error(it->status(), fmt::format("index {}: read", dir));
    return out;
}

std::size_t stripe_of(std::uint64_t file) {
    // Fibonacci hashing: consecutive ids land on different stripes.
    return static_cast<std::size_t>((file * 0x9e3779b97f4a7c15ull) >> 58) % kFileStripes;
}

std::string counter_key(std::string_view name) {
    std::string key(kMetaCounterPrefix);
    key.append(name);
    return key;
}

std::string saved_key(std::string_view name) {
    std::string key(kMetaSavedPrefix);
    key.append(name);
    return key;
}

}  // namespace bcl::index_detail
