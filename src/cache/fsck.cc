// run_fsck(): the checks and repairs of fsck.h, in one walk over the
// extents followed by the per-bucket and dirty-file checks.
#include "bcachefs_lite/cache/fsck.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "bcachefs_lite/index/dirty_file_format.h"
#include "bcachefs_lite/index/file_format.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/crc32c.h"

namespace bcl {

namespace {

// Repairs are committed in batches of this many operations, so a large
// repair never builds one huge write.
constexpr std::size_t kRepairBatch = 256;

enum class DataCheck { good, bad_checksum, read_error };

class FsckRun {
public:
    FsckRun(CacheDevice& dev, Index& index, const FsckOptions& options)
        : dev_(dev), index_(index), options_(options) {}

    Result<FsckReport> run() {
        BCL_TRY(load_gens());
        BCL_TRY(load_dirty_files());
        BCL_TRY(check_file_records());
        std::uint64_t total = 0;
        if (options_.count_first) {
            auto cursor = index_.scan_extents();
            for (; cursor->valid(); cursor->next()) ++total;
            BCL_TRY(cursor->status());
        }
        {
            auto cursor = index_.scan_extents();
            for (; cursor->valid(); cursor->next()) {
                BCL_TRY(visit(*cursor));
                if (options_.progress && r_.extents % kProgressEvery == 0) options_.progress(r_.extents, total);
            }
            BCL_TRY(cursor->status());
        }
        BCL_TRY(end_file());
        if (options_.progress) options_.progress(r_.extents, total);
        check_buckets();
        BCL_TRY(check_dirty_file_records());
        BCL_TRY(commit(true));
        return r_;
    }

private:
    void problem(std::string line) {
        ++r_.problem_count;
        if (r_.problems.size() < FsckReport::kMaxProblems) r_.problems.push_back(std::move(line));
    }

    // A problem that repair cannot or may not fix.
    void leave(std::string line) {
        ++r_.left;
        problem(std::move(line));
    }

    Status load_gens() {
        gens_.assign(dev_.nbuckets(), 0);
        auto records = index_.load_bucket_gens(0);
        if (!records) {
            // Without gens no extent can be called live or stale: only the
            // data checks run.
            gens_known_ = false;
            ++r_.bad_bucket_records;
            leave(fmt::format("the stored bucket gens cannot be read ({}); gens are not checked",
                              records.error().message));
            return ok();
        }
        for (const BucketGenRecord& g : records.value()) {
            if (g.bucket < dev_.first_bucket() || g.bucket >= dev_.nbuckets()) {
                ++r_.bad_bucket_records;
                leave(fmt::format("a bucket record names bucket {}, which is not a data bucket of {} [{}, {})",
                                  g.bucket, dev_.path(), dev_.first_bucket(), dev_.nbuckets()));
                continue;
            }
            gens_[g.bucket] = g.gen;
        }
        live_sectors_.assign(dev_.nbuckets(), 0);
        return ok();
    }

    Status visit(const ExtentCursor& cursor) {
        ++r_.extents;
        auto key = cursor.key();
        auto value = cursor.value();
        if (!key || !value) return corrupt_entry(cursor, key, value);
        const ExtentKey& k = key.value();
        const ExtentValue& v = value.value();
        BCL_TRY(enter_file(k.file));
        if (v.dirty()) {
            ++r_.dirty;
            file_has_dirty_ = true;
        }
        const std::string what = fmt::format("{} extent of cache file {} [{}, {})", v.dirty() ? "dirty" : "clean",
                                             k.file, k.end - v.length, k.end);
        if (!file_has_record_) {
            ++r_.unreachable;
            return bad_extent(k, v, fmt::format("{} belongs to no file record: reads of its file never find it", what));
        }

        if (v.device != 0 || v.bucket < dev_.first_bucket() || v.bucket >= dev_.nbuckets()) {
            ++r_.bad_pointer;
            return bad_extent(k, v, fmt::format("{} points at device {} bucket {}, which does not exist", what,
                                                v.device, v.bucket));
        }
        if (gens_known_ && v.gen != gens_[v.bucket]) {
            ++r_.stale;
            if (v.dirty())
                return bad_extent(k, v, fmt::format("{} is stale (gen {}, bucket {} has gen {}): dirty buckets are "
                                                    "never reused, its data is lost",
                                                    what, v.gen, v.bucket, gens_[v.bucket]));
            if (options_.repair) {
                batch_.delete_extent_if_unchanged(k, v);
                ++r_.stale_deleted;
                return commit(false);
            }
            return ok();
        }
        if (!inside_bucket(v)) {
            ++r_.bad_pointer;
            return bad_extent(k, v, fmt::format("{} at sector {} (checksummed range of {} bytes at byte {}) is not "
                                                "a block-aligned range inside bucket {}",
                                                what, v.sector, v.crc_length, v.crc_device_offset(), v.bucket));
        }
        if (!v.crc_valid()) {
            ++r_.unchecked;
        } else {
            switch (check_data(v)) {
            case DataCheck::good:
                break;
            case DataCheck::bad_checksum:
                ++r_.bad_checksum;
                return bad_extent(k, v, fmt::format("{} in bucket {}: its data does not match its checksum", what,
                                                    v.bucket));
            case DataCheck::read_error:
                ++r_.read_errors;
                return bad_extent(k, v, fmt::format("{} in bucket {}: its data cannot be read: {}", what, v.bucket,
                                                    last_read_error_));
            }
        }
        ++r_.live;
        if (gens_known_) live_sectors_[v.bucket] += static_cast<std::uint32_t>(v.length / kSectorSize);
        return ok();
    }

    // An extent that failed a check: clean ones go (the backing file has
    // the data), dirty ones stay.
    Status bad_extent(const ExtentKey& k, const ExtentValue& v, std::string line) {
        if (v.dirty()) {
            leave(line + "; dirty data is never dropped, left as it is");
            return ok();
        }
        if (!options_.repair) {
            leave(std::move(line));
            return ok();
        }
        problem(line + "; deleted");
        batch_.delete_extent_if_unchanged(k, v);
        ++r_.repaired;
        return commit(false);
    }

    Status corrupt_entry(const ExtentCursor& cursor, const Result<ExtentKey>& key, const Result<ExtentValue>& value) {
        ++r_.corrupt_entries;
        std::string where = key ? fmt::format("cache file {} ending at {}", key.value().file, key.value().end)
                                : std::string("with an undecodable key");
        // Whether the entry may hold dirty data: its own flag when the value
        // decodes, else whether its file has a dirty-file record.
        std::optional<bool> may_be_dirty;
        if (value) {
            may_be_dirty = value.value().dirty();
        } else if (key) {
            BCL_TRY(enter_file(key.value().file));
            may_be_dirty = has_dirty_record(key.value().file);
            // Keep the file's dirty-file record while this entry stays.
            if (*may_be_dirty) file_has_dirty_ = true;
        }
        const std::string line = fmt::format("an extent entry {} does not decode ({})", where,
                                             (!key ? key.error() : value.error()).message);
        if (!may_be_dirty || *may_be_dirty) {
            leave(line + (may_be_dirty ? "; its file has dirty data, so it is left as it is"
                                       : "; whether it is dirty cannot be known, so it is left as it is"));
            return ok();
        }
        if (!options_.repair) {
            leave(line);
            return ok();
        }
        problem(line + "; it holds no dirty data, erased");
        batch_.erase_raw_extent(cursor.raw_key());
        ++r_.repaired;
        return commit(false);
    }

    bool inside_bucket(const ExtentValue& v) const {
        const std::uint64_t bucket_start = dev_.offset_of(v.bucket);
        const std::uint64_t bucket_end = bucket_start + dev_.bucket_size();
        const std::uint64_t start = v.sector * kSectorSize;
        if (start < bucket_start || start + v.length > bucket_end) return false;
        if (!v.crc_valid()) return true;
        const std::uint64_t crc_start = v.crc_device_offset();
        const std::uint64_t block = dev_.block_size();
        return crc_start >= bucket_start && crc_start + v.crc_length <= bucket_end && crc_start % block == 0 &&
               v.crc_length % block == 0;
    }

    // Reads the extent's checksummed range. The pieces of a split extent
    // share one range and sort next to each other: the last answer is kept.
    DataCheck check_data(const ExtentValue& v) {
        const Memo m{v.bucket, v.crc_device_offset(), v.crc_length, v.data_crc};
        if (memo_ && *memo_ == m) return memo_result_;
        AlignedBuffer buf = AlignedBuffer::uninitialized(v.crc_length);
        const auto sector = static_cast<std::uint32_t>((m.offset - dev_.offset_of(v.bucket)) / kSectorSize);
        DataCheck result = DataCheck::good;
        if (auto st = dev_.read_bucket(v.bucket, sector, buf.span()); !st) {
            last_read_error_ = st.error().message;
            result = DataCheck::read_error;
        } else if (crc32c(0, buf.span()) != v.data_crc) {
            result = DataCheck::bad_checksum;
        }
        memo_ = m;
        memo_result_ = result;
        return result;
    }

    // Extents come in file order: the dirty-file check of a file runs when
    // its last extent has been seen.
    Status enter_file(std::uint64_t file) {
        if (have_file_ && file == file_) return ok();
        BCL_TRY(end_file());
        have_file_ = true;
        file_ = file;
        file_has_dirty_ = false;
        file_has_record_ = std::binary_search(file_ids_.begin(), file_ids_.end(), file);
        return ok();
    }

    // The dirty-file records: the file ids that have one, and the backing
    // files (dev, ino) they name, whose file records may lead to dirty data
    // and are never deleted. A record that does not decode is reported:
    // writeback cannot find its file, and its dirty data is never dropped.
    Status load_dirty_files() {
        BCL_TRY(index_.scan_records(Index::RecordFamily::dirty_files, [&](std::string_view raw_key,
                                                                         std::string_view raw_value) {
            auto id = decode_dirty_file_key(raw_key);
            auto record = decode_dirty_file_record(raw_value);
            if (!id) {
                ++r_.orphaned;
                leave(fmt::format("a dirty-file record with an undecodable key ({}); left as it is",
                                  id.error().message));
                return true;
            }
            dirty_ids_.push_back(id.value());
            if (record) {
                dirty_backing_.emplace_back(record.value().dev, record.value().ino);
            } else {
                ++r_.orphaned;
                leave(fmt::format("the dirty-file record of cache file {} does not decode ({}): writeback cannot "
                                  "find its backing file; left as it is",
                                  id.value(), record.error().message));
            }
            return true;
        }));
        std::sort(dirty_ids_.begin(), dirty_ids_.end());
        std::sort(dirty_backing_.begin(), dirty_backing_.end());
        return ok();
    }

    bool has_dirty_record(std::uint64_t file_id) const {
        return std::binary_search(dirty_ids_.begin(), dirty_ids_.end(), file_id);
    }

    Status check_file_records() {
        Status failed = ok();
        BCL_TRY(index_.scan_records(Index::RecordFamily::files, [&](std::string_view raw_key, std::string_view raw_value) {
            ++r_.files;
            auto id = decode_file_key(raw_key);
            auto record = decode_file_record(raw_value);
            if (id && record) {
                file_ids_.push_back(record.value().file_id);
                return true;
            }
            ++r_.bad_file_records;
            if (!id) {
                leave(fmt::format("a file record with an undecodable key ({}); left as it is", id.error().message));
                return true;
            }
            const FileIdentity& i = id.value();
            const std::string line = fmt::format("the file record of backing file (dev {}, ino {}) does not decode ({})",
                                                 i.dev, i.ino, record.error().message);
            if (std::binary_search(dirty_backing_.begin(), dirty_backing_.end(), std::pair{i.dev, i.ino})) {
                leave(line + "; the file has dirty data, so it is left as it is");
            } else if (!options_.repair) {
                leave(line);
            } else {
                problem(line + "; deleted (the file starts cold)");
                batch_.delete_file(i);
                ++r_.repaired;
                if (auto st = commit(false); !st) {
                    failed = st;
                    return false;
                }
            }
            return true;
        }));
        BCL_TRY(failed);
        std::sort(file_ids_.begin(), file_ids_.end());
        for (std::size_t i = 1; i < file_ids_.size(); ++i) {
            if (file_ids_[i] != file_ids_[i - 1]) continue;
            ++r_.bad_file_records;
            leave(fmt::format("two file records name cache file {}; left as they are", file_ids_[i]));
        }
        return ok();
    }

    Status end_file() {
        if (!have_file_ || !file_has_dirty_) return ok();
        dirty_files_.push_back(file_);
        if (!has_dirty_record(file_)) {
            ++r_.orphaned;
            leave(fmt::format("cache file {} has dirty extents but no dirty-file record: writeback cannot find its "
                              "backing file; left as it is",
                              file_));
        }
        file_has_dirty_ = false;
        return ok();
    }

    void check_buckets() {
        if (!gens_known_) return;
        const std::uint32_t capacity = dev_.bucket_sectors();
        for (std::uint64_t b = dev_.first_bucket(); b < dev_.nbuckets(); ++b) {
            if (live_sectors_[b] <= capacity) continue;
            ++r_.overfull_buckets;
            leave(fmt::format("bucket {} holds {} sectors of live extents, more than its {}", b, live_sectors_[b],
                              capacity));
        }
    }

    Status check_dirty_file_records() {
        for (const std::uint64_t id : dirty_ids_) {
            if (std::binary_search(dirty_files_.begin(), dirty_files_.end(), id)) continue;
            ++r_.orphaned;
            const std::string line = fmt::format("cache file {} has a dirty-file record but no dirty extent", id);
            if (options_.repair) {
                problem(line + "; record deleted");
                batch_.delete_dirty_file(id);
                ++r_.repaired;
                BCL_TRY(commit(false));
            } else {
                leave(line);
            }
        }
        return ok();
    }

    // Commits the staged repairs once enough are staged, or all of them
    // (synced) at the end.
    Status commit(bool final) {
        if (batch_.empty() || (!final && batch_.size() < kRepairBatch)) return ok();
        auto result = index_.commit(batch_, final);
        if (!result) return result.error();
        // An extent that changed since it was read was not deleted; with
        // the cache unmounted this does not happen, but say so if it does.
        for (const ExtentKey& k : result.value().skipped) {
            if (r_.repaired != 0) --r_.repaired;
            leave(fmt::format("extent of cache file {} ending at {} changed while fsck ran; not deleted", k.file,
                              k.end));
        }
        return ok();
    }

    struct Memo {
        std::uint64_t bucket, offset, length;
        std::uint32_t crc;
        bool operator==(const Memo&) const = default;
    };

    CacheDevice& dev_;
    Index& index_;
    const FsckOptions& options_;
    FsckReport r_;
    IndexBatch batch_;
    std::vector<std::uint8_t> gens_;
    bool gens_known_ = true;
    std::vector<std::uint32_t> live_sectors_;
    std::optional<Memo> memo_;
    DataCheck memo_result_ = DataCheck::good;
    std::string last_read_error_;
    bool have_file_ = false;
    std::uint64_t file_ = 0;
    bool file_has_dirty_ = false;
    bool file_has_record_ = false;
    std::vector<std::uint64_t> file_ids_;  // of the file records, ascending
    std::vector<std::uint64_t> dirty_ids_;  // with a dirty-file record, ascending
    std::vector<std::pair<std::uint64_t, std::uint64_t>> dirty_backing_;  // (dev, ino), ascending
    std::vector<std::uint64_t> dirty_files_;  // ascending: extents come in file order
};

}  // namespace

Result<FsckReport> run_fsck(CacheDevice& device, Index& index, const FsckOptions& options) {
    // Its extents point into every device of the set: checked against one
    // device alone, the copies on the others would look invalid, and a
    // repair would delete them.
    if (device.superblock().set_size() > 1)
        return make_error(Errc::unsupported,
                          fmt::format("{} is device {} of a cache set of {}: fsck checks caches of one device only",
                                      device.path(), device.superblock().dev_idx, device.superblock().set_size()));
    return FsckRun(device, index, options).run();
}

}  // namespace bcl
