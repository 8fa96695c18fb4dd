// Index::commit(): staged operations -> one rocksdb::WriteBatch, resolving
// extent overlaps against the database plus what earlier operations of the
// same batch changed.
#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/index/index_format.h"
#include "batch_ops.h"
#include "byte_order.h"
#include "extent_map.h"
#include "extent_overlap.h"
#include "index_db.h"
#include "rocks_error.h"

namespace bcl {

using namespace index_detail;

namespace {

// The extents column family as the batch being built will leave it: the
// database under the batch's changes so far.
class Overlay {
public:
    explicit Overlay(const IndexDb& db) : db_(db) {}

    Result<std::vector<Extent>> overlapping(std::uint64_t file, std::uint64_t start, std::uint64_t end) const {
        std::map<std::uint64_t, ExtentValue> view;  // end offset -> value
        if (!dropped_.contains(file)) {
            auto base = db_.read_overlapping(file, start, end);
            if (!base) return base.error();
            for (const Extent& e : base.value()) view.emplace(e.key.end, e.value);
        }
        for (auto it = pending_.lower_bound(ExtentKey{file, start + 1}); it != pending_.end() && it->first.file == file;
             ++it) {
            if (it->second)
                view[it->first.end] = *it->second;
            else
                view.erase(it->first.end);
        }
        std::vector<Extent> out;
        for (const auto& [e_end, value] : view) {
            Extent e{ExtentKey{file, e_end}, value};
            if (e.start() < end) out.push_back(e);
        }
        return out;
    }

    Result<std::optional<ExtentValue>> get(const ExtentKey& key) const {
        if (auto it = pending_.find(key); it != pending_.end()) return it->second;
        if (dropped_.contains(key.file)) return std::optional<ExtentValue>();
        auto raw = db_.get(db_.extents, encode_extent_key(key));
        if (!raw) return raw.error();
        if (!raw.value()) return std::optional<ExtentValue>();
        auto value = decode_extent_value(*raw.value());
        if (!value) return value.error();
        return std::optional<ExtentValue>(value.value());
    }

    // What the batch changed: every extent put or deleted, and the files
    // whose extents it dropped before them.
    const ExtentChanges& pending() const { return pending_; }
    const std::set<std::uint64_t>& dropped() const { return dropped_; }

    void put(const Extent& e) { pending_[e.key] = e.value; }
    void erase(const ExtentKey& key) { pending_[key] = std::nullopt; }
    void drop(std::uint64_t file) {
        dropped_.insert(file);
        pending_.erase(pending_.lower_bound(ExtentKey{file, 0}), pending_.upper_bound(ExtentKey{file, UINT64_MAX}));
    }

private:
    const IndexDb& db_;
    ExtentChanges pending_;  // none: deleted
    std::set<std::uint64_t> dropped_;
};

Status check_file(std::uint64_t file) {
    if (file == 0 || file == UINT64_MAX)
        return make_error(Errc::invalid, fmt::format("extent of invalid file id {}", file));
    return ok();
}

bool aligned(std::uint64_t v) { return v % kSectorSize == 0; }

Status check_value(const ExtentValue& value, const char* what) {
    auto round_trip = decode_extent_value(encode_extent_value(value));
    if (!round_trip)
        return make_error(Errc::invalid,
                          fmt::format("{}: length {} at sector {}, crc window {}+{}: {}", what, value.length,
                                      value.sector, value.crc_offset, value.crc_length, round_trip.error().message));
    return ok();
}

// The file a stored extent key that does not decode would belong to: its
// first 8 bytes, as the extents' prefix extractor sees them.
std::optional<std::uint64_t> raw_key_file(std::string_view raw_key) {
    if (raw_key.size() < 8) return std::nullopt;
    return get_be(raw_key.data(), 8);
}

// Which files an operation reads extents of (for locking).
std::optional<std::uint64_t> file_of(const BatchOp& op) {
    if (auto* o = std::get_if<InsertExtentOp>(&op)) return o->file;
    if (auto* o = std::get_if<RemoveRangeOp>(&op)) return o->file;
    if (auto* o = std::get_if<DropFileExtentsOp>(&op)) return o->file;
    if (auto* o = std::get_if<ConditionalExtentOp>(&op)) return o->key.file;
    if (auto* o = std::get_if<EraseRawExtentOp>(&op)) {
        auto key = decode_extent_key(o->raw_key);
        if (key) return key.value().file;
        return raw_key_file(o->raw_key);
    }
    return std::nullopt;
}

// Builds the write batch; all state of one commit. Runs with the file
// stripe of every file the batch touches held (see Index::commit), so the
// extents it reads cannot change before the batch is written.
class Committer {
public:
    explicit Committer(IndexDb& db) : db_(db), overlay_(db) {}

    Status add(const BatchOp& op) {
        return std::visit([this](const auto& o) { return apply(o); }, op);
    }
    rocksdb::WriteBatch& batch() { return wb_; }
    CommitResult& result() { return result_; }

    // After the batch was written, with the stripes still held: makes the
    // extent map say what RocksDB now holds.
    void update_locked(ExtentMap& map) const {
        map.apply_locked(overlay_.pending(), overlay_.dropped());
        for (std::uint64_t file : unknown_) map.erase_locked(file);
    }
    // After a failed write: RocksDB may still have applied it (a WAL sync
    // that fails after the memtable took the batch), so the map forgets
    // every file the batch wrote rather than guess.
    void forget_locked(ExtentMap& map) const {
        for (const auto& [key, value] : overlay_.pending()) map.erase_locked(key.file);
        for (std::uint64_t file : overlay_.dropped()) map.erase_locked(file);
        for (std::uint64_t file : unknown_) map.erase_locked(file);
    }

private:
    Status put(rocksdb::ColumnFamilyHandle* cf, const std::string& key, const std::string& value) {
        auto s = wb_.Put(cf, key, value);
        if (!s.ok()) return rocks_error(s, "index batch");
        return ok();
    }
    Status del(rocksdb::ColumnFamilyHandle* cf, const std::string& key) {
        auto s = wb_.Delete(cf, key);
        if (!s.ok()) return rocks_error(s, "index batch");
        return ok();
    }

    Status clear_range(std::uint64_t file, std::uint64_t start, std::uint64_t end) {
        auto existing = overlay_.overlapping(file, start, end);
        if (!existing) return existing.error();
        auto plan = plan_clear_range(existing.value(), start, end);
        for (const ExtentKey& k : plan.deletes) {
            BCL_TRY(del(db_.extents, encode_extent_key(k)));
            overlay_.erase(k);
        }
        for (const Extent& e : plan.puts) {
            BCL_TRY(put(db_.extents, encode_extent_key(e.key), encode_extent_value(e.value)));
            overlay_.put(e);
        }
        result_.overwrites.insert(result_.overwrites.end(), plan.overwrites.begin(), plan.overwrites.end());
        return ok();
    }

    Status apply(const PutFileOp& o) {
        FileRecord r = o.record;
        r.btime_ns = o.id.btime_ns;
        if (r.file_id == 0) return make_error(Errc::invalid, "file record with file id 0");
        return put(db_.files, encode_file_key(o.id.dev, o.id.ino), encode_file_record(r));
    }
    Status apply(const DeleteFileOp& o) { return del(db_.files, encode_file_key(o.id.dev, o.id.ino)); }
    Status apply(const InsertExtentOp& o) {
        BCL_TRY(check_file(o.file));
        BCL_TRY(check_value(o.value, "insert of extent"));
        if (!aligned(o.offset) || o.offset > UINT64_MAX - o.value.length || !aligned(o.offset + o.value.length))
            return make_error(Errc::invalid,
                              fmt::format("insert of extent at unaligned or impossible offset {}", o.offset));
        const std::uint64_t end = o.offset + o.value.length;
        BCL_TRY(clear_range(o.file, o.offset, end));
        Extent e{ExtentKey{o.file, end}, o.value};
        BCL_TRY(put(db_.extents, encode_extent_key(e.key), encode_extent_value(e.value)));
        overlay_.put(e);
        return ok();
    }
    Status apply(const RemoveRangeOp& o) {
        BCL_TRY(check_file(o.file));
        if (o.start > o.end || !aligned(o.start) || (!aligned(o.end) && o.end != UINT64_MAX))
            return make_error(Errc::invalid, fmt::format("removal of unaligned range [{}, {})", o.start, o.end));
        if (o.start == o.end) return ok();
        return clear_range(o.file, o.start, o.end);
    }
    Status apply(const DropFileExtentsOp& o) {
        BCL_TRY(check_file(o.file));
        auto s = wb_.DeleteRange(db_.extents, encode_extent_key(ExtentKey{o.file, 0}),
                                 encode_extent_key(ExtentKey{o.file + 1, 0}));
        if (!s.ok()) return rocks_error(s, "index batch");
        overlay_.drop(o.file);
        return ok();
    }
    Status apply(const ConditionalExtentOp& o) {
        BCL_TRY(check_file(o.key.file));
        if (o.replacement) {
            BCL_TRY(check_value(*o.replacement, "replacement of extent"));
            if (o.replacement->length != o.expected.length)
                return make_error(Errc::invalid, "replacement of an extent by one of another length");
        }
        auto current = overlay_.get(o.key);
        if (!current) return current.error();
        if (!current.value() || *current.value() != o.expected) {
            result_.skipped.push_back(o.key);
            return ok();
        }
        if (o.replacement) {
            Extent e{o.key, *o.replacement};
            BCL_TRY(put(db_.extents, encode_extent_key(o.key), encode_extent_value(e.value)));
            overlay_.put(e);
        } else {
            BCL_TRY(del(db_.extents, encode_extent_key(o.key)));
            overlay_.erase(o.key);
        }
        return ok();
    }
    Status apply(const EraseRawExtentOp& o) {
        BCL_TRY(del(db_.extents, o.raw_key));
        if (auto key = decode_extent_key(o.raw_key))
            overlay_.erase(key.value());
        else if (auto file = raw_key_file(o.raw_key))
            unknown_.insert(*file);  // no map keeps such a file; forget it all the same
        return ok();
    }
    Status apply(const PutBucketGensOp& o) {
        for (const BucketGenRecord& r : o.records)
            BCL_TRY(put(db_.buckets, encode_bucket_key(o.device, r.bucket), encode_bucket_value(r)));
        return ok();
    }
    Status apply(const PutCounterOp& o) { return put(db_.meta, counter_key(o.name), encode_meta_u64(o.value)); }
    Status apply(const PutSavedOp& o) { return put(db_.meta, saved_key(o.name), encode_meta_saved(o.bytes)); }
    Status apply(const PutDirtyFileOp& o) {
        auto value = encode_dirty_file_record(o.record);
        if (!value) return value.error();
        return put(db_.dirty_files, encode_dirty_file_key(o.file_id), value.value());
    }
    Status apply(const DeleteDirtyFileOp& o) { return del(db_.dirty_files, encode_dirty_file_key(o.file_id)); }

    Status apply(const PutPinnedFileOp& o) {
        if (!db_.pinned_files) return make_error(Errc::invalid, "the index has no pinned_files family");
        auto value = encode_dirty_file_record(o.record);
        if (!value) return value.error();
        return put(db_.pinned_files, encode_file_key(o.record.dev, o.record.ino), value.value());
    }
    Status apply(const DeletePinnedFileOp& o) {
        if (!db_.pinned_files) return make_error(Errc::invalid, "the index has no pinned_files family");
        return del(db_.pinned_files, encode_file_key(o.dev, o.ino));
    }

    Status apply(const PutNameOp& o) {
        if (!db_.names) return make_error(Errc::invalid, "the index has no names family");
        if (o.name.empty() || o.record.id == kRootNameId)
            return make_error(Errc::invalid, "a name record needs a name and an id other than 0");
        return put(db_.names, encode_name_key(o.parent, o.name), encode_name_record(o.record));
    }
    Status apply(const DeleteNameOp& o) {
        if (!db_.names) return make_error(Errc::invalid, "the index has no names family");
        return del(db_.names, encode_name_key(o.parent, o.name));
    }

    IndexDb& db_;
    Overlay overlay_;
    // Files an erased key that does not decode may belong to.
    std::set<std::uint64_t> unknown_;
    rocksdb::WriteBatch wb_;
    CommitResult result_;
};

}  // namespace

Result<CommitResult> Index::commit(IndexBatch& batch, bool sync) {
    std::vector<std::size_t> stripes;
    for (const BatchOp& op : batch.ops_->ops)
        if (auto file = file_of(op)) stripes.push_back(stripe_of(*file));
    std::sort(stripes.begin(), stripes.end());
    stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
    std::vector<std::unique_lock<std::mutex>> locks;
    locks.reserve(stripes.size());
    for (std::size_t s : stripes) locks.emplace_back(db_->file_stripes[s]);

    Committer committer(*db_);
    for (const BatchOp& op : batch.ops_->ops) BCL_TRY(committer.add(op));
    if (committer.batch().Count() > 0) {
        auto written = db_->write(committer.batch(), sync, "commit");
        if (!written) {
            if (db_->extent_map) committer.forget_locked(*db_->extent_map);
            return written.error();
        }
    }
    if (db_->extent_map) committer.update_locked(*db_->extent_map);
    batch.clear();
    return std::move(committer.result());
}

}  // namespace bcl
