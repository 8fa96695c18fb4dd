// run_fsck(): the checks and repairs of fsck.h, in one walk over the
// extents followed by the per-bucket and dirty-file checks. Every copy of
// an extent is checked on its own device; the extent's fate follows from
// what its copies are (one good copy keeps it).
#include "bcachefs_lite/cache/fsck.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <span>
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

// What one copy of an extent is. `why` completes a line that starts with
// the extent's description.
struct CopyCheck {
    enum Kind { good, unchecked, stale, bad_pointer, bad_checksum, read_error } kind = good;
    std::string why;

    bool usable() const { return kind == good || kind == unchecked; }
};

// `v` without copy `gone` (it has two).
ExtentValue without_copy(const ExtentValue& v, unsigned gone) {
    ExtentValue out = v;
    out.replica.reset();
    out.set_ptr(0, v.ptr(gone == 0 ? 1 : 0));
    return out;
}

class FsckRun {
public:
    FsckRun(std::span<CacheDevice* const> devs, Index& index, const FsckOptions& options)
        : devs_(devs.begin(), devs.end()), index_(index), options_(options) {}

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

    // A bucket as lines name it: the device too when the set has several.
    std::string where(std::uint8_t device, std::uint64_t bucket) const {
        if (devs_.size() == 1) return fmt::format("bucket {}", bucket);
        return fmt::format("bucket {} of device {}", bucket, device);
    }

    Status load_gens() {
        gens_.resize(devs_.size());
        gens_known_.assign(devs_.size(), true);
        live_sectors_.resize(devs_.size());
        for (std::uint32_t d = 0; d < devs_.size(); ++d) {
            const CacheDevice& dev = *devs_[d];
            gens_[d].assign(dev.nbuckets(), 0);
            live_sectors_[d].assign(dev.nbuckets(), 0);
            auto records = index_.load_bucket_gens(d);
            if (!records) {
                // Without gens no extent can be called live or stale: only the
                // data checks run.
                gens_known_[d] = false;
                ++r_.bad_bucket_records;
                leave(fmt::format("the stored bucket gens{} cannot be read ({}); gens are not checked",
                                  devs_.size() == 1 ? std::string() : fmt::format(" of device {}", d),
                                  records.error().message));
                continue;
            }
            for (const BucketGenRecord& g : records.value()) {
                if (g.bucket < dev.first_bucket() || g.bucket >= dev.nbuckets()) {
                    ++r_.bad_bucket_records;
                    leave(fmt::format("a bucket record names bucket {}, which is not a data bucket of {} [{}, {})",
                                      g.bucket, dev.path(), dev.first_bucket(), dev.nbuckets()));
                    continue;
                }
                gens_[d][g.bucket] = g.gen;
            }
        }
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

        CopyCheck copies[kMaxExtentPtrs];
        for (unsigned i = 0; i < v.nptrs(); ++i) copies[i] = check_copy(v, i);
        if (v.nptrs() == 1) return one_copy(k, v, copies[0], what);
        return two_copies(k, v, copies, what);
    }

    // An extent with one copy: it is as good as that copy.
    Status one_copy(const ExtentKey& k, const ExtentValue& v, const CopyCheck& c, const std::string& what) {
        switch (c.kind) {
        case CopyCheck::good:
        case CopyCheck::unchecked: count_live(v, c.kind == CopyCheck::unchecked); return ok();
        case CopyCheck::stale: ++r_.stale; return stale_extent(k, v, what + " " + c.why);
        case CopyCheck::bad_pointer: ++r_.bad_pointer; break;
        case CopyCheck::bad_checksum: ++r_.bad_checksum; break;
        case CopyCheck::read_error: ++r_.read_errors; break;
        }
        return bad_extent(k, v, what + " " + c.why);
    }

    // A stale extent: normal when clean (its bucket was reused), data loss
    // when dirty (dirty buckets are never reused).
    Status stale_extent(const ExtentKey& k, const ExtentValue& v, const std::string& line) {
        if (v.dirty()) return bad_extent(k, v, line + ": dirty buckets are never reused, its data is lost");
        if (options_.repair) {
            batch_.delete_extent_if_unchanged(k, v);
            ++r_.stale_deleted;
            return commit(false);
        }
        return ok();
    }

    // An extent with two copies: live while one of them is good. A bad copy
    // next to a good one is a finding of its own; repair takes it out of
    // the extent, for dirty data only when the other copy verifies.
    Status two_copies(const ExtentKey& k, const ExtentValue& v, const CopyCheck (&c)[kMaxExtentPtrs],
                      const std::string& what) {
        if (c[0].usable() && c[1].usable()) {
            count_live(v, !v.crc_valid());
            return ok();
        }
        const auto copy_line = [&](unsigned i) {
            const ExtentPtr p = v.ptr(i);
            return fmt::format("its copy on device {} {}", p.device, c[i].why);
        };
        if (!c[0].usable() && !c[1].usable()) {
            const std::string line = fmt::format("{}: {}, and {}", what, copy_line(0), copy_line(1));
            if (c[0].kind == CopyCheck::stale && c[1].kind == CopyCheck::stale) {
                ++r_.stale;
                return stale_extent(k, v, line);
            }
            switch (c[c[0].kind == CopyCheck::stale ? 1 : 0].kind) {
            case CopyCheck::bad_pointer: ++r_.bad_pointer; break;
            case CopyCheck::bad_checksum: ++r_.bad_checksum; break;
            case CopyCheck::read_error: ++r_.read_errors; break;
            default: break;
            }
            return bad_extent(k, v, line);
        }
        const unsigned bad = c[0].usable() ? 1 : 0;
        const unsigned other = 1 - bad;
        const ExtentPtr good_ptr = v.ptr(other);
        count_live(without_copy(v, bad), c[other].kind == CopyCheck::unchecked);
        if (c[bad].kind == CopyCheck::stale && !v.dirty()) {
            // A clean copy in a reused bucket while the other serves: GC
            // takes it out at the next mount, so it is no error.
            ++r_.stale;
            if (!options_.repair) return ok();
            batch_.replace_extent_if_unchanged(k, v, without_copy(v, bad));
            ++r_.stale_deleted;
            return commit(false);
        }
        ++r_.bad_copies;
        const bool verified = c[other].kind == CopyCheck::good;
        const std::string line = fmt::format("{}: {}; its copy on device {} {}", what, copy_line(bad), good_ptr.device,
                                             verified ? "is good" : "has no checksum to verify it by");
        if (!options_.repair) {
            leave(line);
            return ok();
        }
        if (v.dirty() && !verified) {
            leave(line + "; dirty data without a verified copy is never dropped, left as it is");
            return ok();
        }
        problem(fmt::format("{}; the copy on device {} dropped", line, v.ptr(bad).device));
        batch_.replace_extent_if_unchanged(k, v, without_copy(v, bad));
        ++r_.repaired;
        return commit(false);
    }

    void count_live(const ExtentValue& v, bool unchecked) {
        ++r_.live;
        if (unchecked) ++r_.unchecked;
        for (unsigned i = 0; i < v.nptrs(); ++i) {
            const ExtentPtr p = v.ptr(i);
            if (gens_known_[p.device])
                live_sectors_[p.device][p.bucket] += static_cast<std::uint32_t>(v.length / kSectorSize);
        }
    }

    // Copy i of `v` against its device: the bucket exists, its gen is the
    // bucket's, the range lies inside it, and the data matches its checksum.
    CopyCheck check_copy(const ExtentValue& v, unsigned i) {
        const ExtentPtr p = v.ptr(i);
        if (p.device >= devs_.size() || p.bucket < devs_[p.device]->first_bucket() ||
            p.bucket >= devs_[p.device]->nbuckets())
            return {CopyCheck::bad_pointer,
                    fmt::format("points at device {} bucket {}, which does not exist", p.device, p.bucket)};
        const std::vector<std::uint8_t>& gens = gens_[p.device];
        if (gens_known_[p.device] && p.gen != gens[p.bucket])
            return {CopyCheck::stale,
                    fmt::format("is stale (gen {}, {} has gen {})", p.gen, where(p.device, p.bucket), gens[p.bucket])};
        if (!inside_bucket(v, i))
            return {CopyCheck::bad_pointer,
                    fmt::format("at sector {} (checksummed range of {} bytes at byte {}) is not a block-aligned "
                                "range inside {}",
                                p.sector, v.crc_length, v.crc_device_offset(i), where(p.device, p.bucket))};
        if (!v.crc_valid()) return {CopyCheck::unchecked, {}};
        switch (check_data(v, i)) {
        case DataCheck::good: return {CopyCheck::good, {}};
        case DataCheck::bad_checksum:
            return {CopyCheck::bad_checksum,
                    fmt::format("in {}: its data does not match its checksum", where(p.device, p.bucket))};
        case DataCheck::read_error: break;
        }
        return {CopyCheck::read_error,
                fmt::format("in {}: its data cannot be read: {}", where(p.device, p.bucket), last_read_error_)};
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
        const std::string line =
            fmt::format("an extent entry {} does not decode ({})", where, (!key ? key.error() : value.error()).message);
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

    bool inside_bucket(const ExtentValue& v, unsigned i) const {
        const ExtentPtr p = v.ptr(i);
        const CacheDevice& dev = *devs_[p.device];
        const std::uint64_t bucket_start = dev.offset_of(p.bucket);
        const std::uint64_t bucket_end = bucket_start + dev.bucket_size();
        const std::uint64_t start = p.sector * kSectorSize;
        if (start < bucket_start || start + v.length > bucket_end) return false;
        if (!v.crc_valid()) return true;
        const std::uint64_t crc_start = v.crc_device_offset(i);
        const std::uint64_t block = dev.block_size();
        return crc_start >= bucket_start && crc_start + v.crc_length <= bucket_end && crc_start % block == 0 &&
               v.crc_length % block == 0;
    }

    // Reads the checksummed range of copy i. The pieces of a split extent
    // share one range and sort next to each other: the last answer of each
    // device is kept.
    DataCheck check_data(const ExtentValue& v, unsigned i) {
        const ExtentPtr p = v.ptr(i);
        const Memo m{p.device, p.bucket, v.crc_device_offset(i), v.crc_length, v.data_crc};
        std::optional<Memo>& memo = memo_[i];
        if (memo && *memo == m) return memo_result_[i];
        CacheDevice& dev = *devs_[p.device];
        AlignedBuffer buf = AlignedBuffer::uninitialized(v.crc_length);
        const auto sector = static_cast<std::uint32_t>((m.offset - dev.offset_of(p.bucket)) / kSectorSize);
        DataCheck result = DataCheck::good;
        if (auto st = dev.read_bucket(p.bucket, sector, buf.span()); !st) {
            last_read_error_ = st.error().message;
            result = DataCheck::read_error;
        } else if (crc32c(0, buf.span()) != v.data_crc) {
            result = DataCheck::bad_checksum;
        }
        memo = m;
        memo_result_[i] = result;
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
        BCL_TRY(index_.scan_records(
            Index::RecordFamily::dirty_files, [&](std::string_view raw_key, std::string_view raw_value) {
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
                    leave(
                        fmt::format("the dirty-file record of cache file {} does not decode ({}): writeback cannot "
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
        BCL_TRY(
            index_.scan_records(Index::RecordFamily::files, [&](std::string_view raw_key, std::string_view raw_value) {
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
                const std::string line =
                    fmt::format("the file record of backing file (dev {}, ino {}) does not decode ({})", i.dev, i.ino,
                                record.error().message);
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
            leave(
                fmt::format("cache file {} has dirty extents but no dirty-file record: writeback cannot find its "
                            "backing file; left as it is",
                            file_));
        }
        file_has_dirty_ = false;
        return ok();
    }

    void check_buckets() {
        for (std::uint32_t d = 0; d < devs_.size(); ++d) {
            if (!gens_known_[d]) continue;
            const CacheDevice& dev = *devs_[d];
            const std::uint32_t capacity = dev.bucket_sectors();
            for (std::uint64_t b = dev.first_bucket(); b < dev.nbuckets(); ++b) {
                if (live_sectors_[d][b] <= capacity) continue;
                ++r_.overfull_buckets;
                leave(fmt::format("{} holds {} sectors of live extents, more than its {}",
                                  where(static_cast<std::uint8_t>(d), b), live_sectors_[d][b], capacity));
            }
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
            leave(
                fmt::format("extent of cache file {} ending at {} changed while fsck ran; not deleted", k.file, k.end));
        }
        return ok();
    }

    struct Memo {
        std::uint8_t device;
        std::uint64_t bucket, offset, length;
        std::uint32_t crc;
        bool operator==(const Memo&) const = default;
    };

    std::vector<CacheDevice*> devs_;  // by dev_idx
    Index& index_;
    const FsckOptions& options_;
    FsckReport r_;
    IndexBatch batch_;
    std::vector<std::vector<std::uint8_t>> gens_;           // by device, bucket
    std::vector<bool> gens_known_;                          // by device
    std::vector<std::vector<std::uint32_t>> live_sectors_;  // by device, bucket
    // The last data check of each copy slot (a split extent's pieces come
    // one after another with the same copies).
    std::optional<Memo> memo_[kMaxExtentPtrs];
    DataCheck memo_result_[kMaxExtentPtrs] = {};
    std::string last_read_error_;
    bool have_file_ = false;
    std::uint64_t file_ = 0;
    bool file_has_dirty_ = false;
    bool file_has_record_ = false;
    std::vector<std::uint64_t> file_ids_;                                 // of the file records, ascending
    std::vector<std::uint64_t> dirty_ids_;                                // with a dirty-file record, ascending
    std::vector<std::pair<std::uint64_t, std::uint64_t>> dirty_backing_;  // (dev, ino), ascending
    std::vector<std::uint64_t> dirty_files_;                              // ascending: extents come in file order
};

}  // namespace

Result<FsckReport> run_fsck(std::span<CacheDevice* const> devices, Index& index, const FsckOptions& options) {
    // Its extents point into every device of the set: checked against some
    // devices only, the copies on the others would look invalid, and a
    // repair would drop them.
    if (devices.empty()) return make_error(Errc::invalid, "fsck needs a cache device");
    const Superblock& first = devices[0]->superblock();
    for (std::size_t i = 0; i < devices.size(); ++i) {
        const Superblock& sb = devices[i]->superblock();
        if (sb.set_size() != devices.size() || sb.dev_idx != i || sb.set_id() != first.set_id())
            return make_error(Errc::unsupported,
                              fmt::format("{} is device {} of a cache set of {}, given as device {} of {}: fsck "
                                          "needs every member of the set, in dev_idx order",
                                          devices[i]->path(), sb.dev_idx, sb.set_size(), i, devices.size()));
    }
    return FsckRun(devices, index, options).run();
}

Result<FsckReport> run_fsck(CacheDevice& device, Index& index, const FsckOptions& options) {
    CacheDevice* const one[] = {&device};
    return run_fsck(std::span<CacheDevice* const>(one), index, options);
}

}  // namespace bcl
