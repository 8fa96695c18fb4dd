// Index: meta values, file records, file ids, bucket gens.
#include "bcachefs_lite/index/index.h"

#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include "bcachefs_lite/index/index_format.h"
#include "index_db.h"
#include "rocks_error.h"

namespace bcl {

using namespace index_detail;

Index::Index(std::unique_ptr<IndexDb> db) : db_(std::move(db)) {}
Index::~Index() = default;

const Uuid& Index::cache_uuid() const { return db_->uuid; }
const std::string& Index::dir() const { return db_->dir; }

std::uint64_t Index::sequence() const { return db_->db->GetLatestSequenceNumber(); }

Result<bool> Index::clean_shutdown() const {
    auto raw = db_->get(db_->meta, kMetaCleanKey);
    if (!raw) return raw.error();
    if (!raw.value()) return false;
    auto v = decode_meta_u64(*raw.value());
    if (!v) return v.error();
    return v.value() != 0;
}

Status Index::set_clean_shutdown(bool clean) {
    rocksdb::WriteBatch wb;
    auto s = wb.Put(db_->meta, std::string(kMetaCleanKey), encode_meta_u64(clean ? 1 : 0));
    if (!s.ok()) return rocks_error(s, "index batch");
    return db_->write(wb, true, "write clean flag");
}

Status Index::begin_mount(const MountRecord& mount) {
    rocksdb::WriteBatch wb;
    auto s = wb.Put(db_->meta, std::string(kMetaCleanKey), encode_meta_u64(0));
    if (s.ok()) s = wb.Put(db_->meta, std::string(kMetaLastMountKey), encode_meta_mount(mount));
    if (!s.ok()) return rocks_error(s, "index batch");
    return db_->write(wb, true, "write clean flag and mount record");
}

Result<std::optional<MountRecord>> Index::last_mount() const {
    auto raw = db_->get(db_->meta, kMetaLastMountKey);
    if (!raw) return raw.error();
    if (!raw.value()) return std::optional<MountRecord>();
    auto r = decode_meta_mount(*raw.value());
    if (!r) return make_error(r.error().code, fmt::format("index {}: {}", db_->dir, r.error().message));
    return std::optional<MountRecord>(std::move(r).value());
}

Result<std::uint64_t> Index::get_counter(std::string_view name) const {
    auto raw = db_->get(db_->meta, counter_key(name));
    if (!raw) return raw.error();
    if (!raw.value()) return std::uint64_t{0};
    auto v = decode_meta_u64(*raw.value());
    if (!v)
        return make_error(v.error().code, fmt::format("index {}: counter {}: {}", db_->dir, name, v.error().message));
    return v.value();
}

Status Index::put_counter(std::string_view name, std::uint64_t value, bool sync) {
    IndexBatch batch;
    batch.put_counter(name, value);
    auto r = commit(batch, sync);
    if (!r) return r.error();
    return ok();
}

Result<std::optional<std::string>> Index::get_saved(std::string_view name) const {
    auto raw = db_->get(db_->meta, saved_key(name));
    if (!raw) return raw.error();
    if (!raw.value()) return std::optional<std::string>();
    auto v = decode_meta_saved(*raw.value());
    if (!v)
        return make_error(v.error().code,
                          fmt::format("index {}: saved state {}: {}", db_->dir, name, v.error().message));
    return std::optional<std::string>(std::move(v).value());
}

Result<std::optional<FileRecord>> Index::get_file(const FileIdentity& id) const {
    auto raw = db_->get(db_->files, encode_file_key(id.dev, id.ino));
    if (!raw) return raw.error();
    if (!raw.value()) return std::optional<FileRecord>();
    auto r = decode_file_record(*raw.value());
    if (!r)
        return make_error(r.error().code, fmt::format("index {}: file (dev {}, ino {}): {}", db_->dir, id.dev, id.ino,
                                                      r.error().message));
    return std::optional<FileRecord>(r.value());
}

Status Index::scan_records(RecordFamily family,
                           const std::function<bool(std::string_view, std::string_view)>& visit) const {
    rocksdb::ColumnFamilyHandle* cf = family == RecordFamily::files ? db_->files : db_->dirty_files;
    // A version-1 index opened read-only has no dirty-files family.
    if (!cf) return ok();
    std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (!visit(std::string_view(it->key().data(), it->key().size()),
                   std::string_view(it->value().data(), it->value().size())))
            return ok();
    }
    if (!it->status().ok()) return rocks_error(it->status(), fmt::format("index {}: records", db_->dir));
    return ok();
}

Result<std::optional<DirtyFileRecord>> Index::get_dirty_file(std::uint64_t file_id) const {
    if (!db_->dirty_files) return std::optional<DirtyFileRecord>();
    auto raw = db_->get(db_->dirty_files, encode_dirty_file_key(file_id));
    if (!raw) return raw.error();
    if (!raw.value()) return std::optional<DirtyFileRecord>();
    auto r = decode_dirty_file_record(*raw.value());
    if (!r)
        return make_error(r.error().code,
                          fmt::format("index {}: dirty file {}: {}", db_->dir, file_id, r.error().message));
    return std::optional<DirtyFileRecord>(r.value());
}

Result<std::optional<std::pair<std::uint64_t, DirtyFileRecord>>> Index::next_dirty_file(std::uint64_t from) const {
    using Found = std::optional<std::pair<std::uint64_t, DirtyFileRecord>>;
    // A version-1 index opened read-only has no such family, and no dirty data.
    if (!db_->dirty_files) return Found();
    std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions(), db_->dirty_files));
    it->Seek(encode_dirty_file_key(from));
    if (!it->Valid()) {
        if (!it->status().ok()) return rocks_error(it->status(), fmt::format("index {}: dirty files", db_->dir));
        return Found();
    }
    auto id = decode_dirty_file_key(std::string_view(it->key().data(), it->key().size()));
    if (!id) return make_error(Errc::corrupt, fmt::format("index {}: {}", db_->dir, id.error().message));
    auto r = decode_dirty_file_record(std::string_view(it->value().data(), it->value().size()));
    if (!r)
        return make_error(r.error().code,
                          fmt::format("index {}: dirty file {}: {}", db_->dir, id.value(), r.error().message));
    return Found(std::pair{id.value(), r.value()});
}

Result<std::optional<NameRecord>> Index::get_name(std::uint64_t parent, std::string_view name) const {
    if (!db_->names) return std::optional<NameRecord>();
    auto raw = db_->get(db_->names, encode_name_key(parent, name));
    if (!raw) return raw.error();
    if (!raw.value()) return std::optional<NameRecord>();
    auto r = decode_name_record(*raw.value());
    if (!r)
        return make_error(r.error().code,
                          fmt::format("index {}: name in directory {}: {}", db_->dir, parent, r.error().message));
    return std::optional<NameRecord>(r.value());
}

Result<std::optional<Index::PinnedFileEntry>> Index::next_pinned_file(std::uint64_t dev, std::uint64_t ino) const {
    using Found = std::optional<PinnedFileEntry>;
    if (!db_->pinned_files) return Found();
    std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions(), db_->pinned_files));
    it->Seek(encode_file_key(dev, ino));
    if (!it->Valid()) {
        if (!it->status().ok()) return rocks_error(it->status(), fmt::format("index {}: pinned files", db_->dir));
        return Found();
    }
    auto key = decode_file_key(std::string_view(it->key().data(), it->key().size()));
    if (!key) return make_error(Errc::corrupt, fmt::format("index {}: pinned file: {}", db_->dir, key.error().message));
    auto r = decode_dirty_file_record(std::string_view(it->value().data(), it->value().size()));
    PinnedFileEntry entry;
    entry.dev = key.value().dev;
    entry.ino = key.value().ino;
    if (r) {
        entry.record = std::move(r).value();
    } else {
        entry.problem = fmt::format("index {}: pinned file (dev {}, ino {}): {}", db_->dir, entry.dev, entry.ino,
                                    r.error().message);
    }
    return Found(std::move(entry));
}

Status Index::put_file(const FileIdentity& id, const FileRecord& record, bool sync) {
    IndexBatch batch;
    batch.put_file(id, record);
    auto r = commit(batch, sync);
    if (!r) return r.error();
    return ok();
}

Status Index::delete_file(const FileIdentity& id, bool sync) {
    IndexBatch batch;
    batch.delete_file(id);
    auto r = commit(batch, sync);
    if (!r) return r.error();
    return ok();
}

Result<std::uint64_t> Index::new_file_id() {
    std::lock_guard lock(db_->file_id_mutex);
    if (db_->next_file_id == db_->file_id_limit) {
        const std::uint64_t limit = db_->file_id_limit + kFileIdBlock;
        rocksdb::WriteBatch wb;
        auto s = wb.Put(db_->meta, std::string(kMetaFileIdLimitKey), encode_meta_u64(limit));
        if (!s.ok()) return rocks_error(s, "index batch");
        BCL_TRY(db_->write(wb, true, "reserve file ids"));
        db_->file_id_limit = limit;
    }
    return db_->next_file_id++;
}

Status Index::put_bucket_gens(std::uint32_t device, std::span<const BucketGenRecord> records) {
    IndexBatch batch;
    batch.put_bucket_gens(device, records);
    auto r = commit(batch, true);
    if (!r) return r.error();
    return ok();
}

Result<std::vector<BucketGenRecord>> Index::load_bucket_gens(std::uint32_t device) const {
    std::vector<BucketGenRecord> out;
    const std::string first = encode_bucket_key(device, 0);
    rocksdb::ReadOptions ro;
    std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(ro, db_->buckets));
    for (it->Seek(first); it->Valid(); it->Next()) {
        auto key = decode_bucket_key(std::string_view(it->key().data(), it->key().size()));
        if (!key) return make_error(key.error().code, fmt::format("index {}: {}", db_->dir, key.error().message));
        if (key.value().device != device) break;
        auto value = decode_bucket_value(std::string_view(it->value().data(), it->value().size()));
        if (!value)
            return make_error(value.error().code, fmt::format("index {}: bucket {} of device {}: {}", db_->dir,
                                                              key.value().bucket, device, value.error().message));
        BucketGenRecord r = value.value();
        r.bucket = key.value().bucket;
        out.push_back(r);
    }
    if (!it->status().ok()) return rocks_error(it->status(), fmt::format("index {}: read buckets", db_->dir));
    return out;
}

Status Index::sync() {
    if (db_->before_durable) BCL_TRY(db_->before_durable());
    auto s = db_->db->SyncWAL();
    if (!s.ok()) return rocks_error(s, fmt::format("index {}: sync", db_->dir));
    return ok();
}

}  // namespace bcl
