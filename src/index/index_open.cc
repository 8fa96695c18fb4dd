// Index::open(): find or create the database, check that it is ours.
#include <fmt/format.h>
#include <sys/stat.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/index/index_format.h"
#include "extent_map.h"
#include "index_db.h"
#include "index_options.h"
#include "rocks_error.h"

namespace bcl {

using namespace index_detail;

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kOurFamilies[] = {kMetaColumnFamily,    kFilesColumnFamily,      kExtentsColumnFamily,
                                             kBucketsColumnFamily, kDirtyFilesColumnFamily, kPinnedFilesColumnFamily,
                                             kNamesColumnFamily};
// Families added after format version 1, created when an older index opens.
constexpr std::string_view kAddedFamilies[] = {kDirtyFilesColumnFamily, kPinnedFilesColumnFamily, kNamesColumnFamily};

Error unreadable(const std::string& dir, const std::string& why) {
    return make_error(Errc::corrupt,
                      fmt::format("index {} cannot be opened ({}); run `bcachefs-lite-ctl fsck`", dir, why));
}

enum class DirState { missing, empty, has_index, other_files };

Result<DirState> probe(const std::string& dir) {
    std::error_code ec;
    const auto status = fs::status(dir, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) return sys_error(ec.value(), fmt::format("index {}", dir));
    if (!fs::exists(status)) return DirState::missing;
    if (!fs::is_directory(status)) return make_error(Errc::invalid, fmt::format("index {} is not a directory", dir));
    if (fs::exists(fs::path(dir) / "CURRENT", ec)) return DirState::has_index;
    fs::directory_iterator it(dir, ec);
    if (ec) return sys_error(ec.value(), fmt::format("index {}", dir));
    return it == fs::directory_iterator() ? DirState::empty : DirState::other_files;
}

// Opens the database; `create` makes a new one in an empty directory.
Status open_db(IndexDb& idx, const IndexOptions& options, bool create) {
    rocksdb::DBOptions db_options = make_db_options(options);
    db_options.create_if_missing = create;
    db_options.create_missing_column_families = create;

    std::vector<std::string> names;
    if (create) {
        names.push_back(rocksdb::kDefaultColumnFamilyName);
        for (auto n : kOurFamilies) names.emplace_back(n);
    } else {
        auto s = rocksdb::DB::ListColumnFamilies(db_options, idx.dir, &names);
        if (!s.ok()) return unreadable(idx.dir, s.ToString());
        for (auto n : kOurFamilies) {
            if (std::find(names.begin(), names.end(), n) != names.end()) continue;
            if (std::find(std::begin(kAddedFamilies), std::end(kAddedFamilies), n) == std::end(kAddedFamilies))
                return unreadable(idx.dir, fmt::format("no column family `{}`", n));
            if (options.read_only) continue;  // an older index, read as it is
            names.emplace_back(n);
            db_options.create_missing_column_families = true;
        }
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : names) descriptors.emplace_back(n, make_cf_options(options, n, idx.block_cache));

    rocksdb::DB* raw = nullptr;
    auto s = options.read_only ? rocksdb::DB::OpenForReadOnly(db_options, idx.dir, descriptors, &idx.handles, &raw)
                               : rocksdb::DB::Open(db_options, idx.dir, descriptors, &idx.handles, &raw);
    if (!s.ok()) {
        if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
            return make_error(Errc::busy, fmt::format("index {} is in use by another process", idx.dir));
        return unreadable(idx.dir, s.ToString());
    }
    idx.db.reset(raw);
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == kMetaColumnFamily) idx.meta = idx.handles[i];
        if (names[i] == kFilesColumnFamily) idx.files = idx.handles[i];
        if (names[i] == kExtentsColumnFamily) idx.extents = idx.handles[i];
        if (names[i] == kBucketsColumnFamily) idx.buckets = idx.handles[i];
        if (names[i] == kDirtyFilesColumnFamily) idx.dirty_files = idx.handles[i];
        if (names[i] == kPinnedFilesColumnFamily) idx.pinned_files = idx.handles[i];
        if (names[i] == kNamesColumnFamily) idx.names = idx.handles[i];
    }
    return ok();
}

Status initialise(IndexDb& idx, const Uuid& uuid) {
    rocksdb::WriteBatch wb;
    wb.Put(idx.meta, std::string(kMetaUuidKey), encode_meta_uuid(uuid)).PermitUncheckedError();
    wb.Put(idx.meta, std::string(kMetaVersionKey), encode_meta_u64(kIndexFormatVersion)).PermitUncheckedError();
    wb.Put(idx.meta, std::string(kMetaCleanKey), encode_meta_u64(0)).PermitUncheckedError();
    wb.Put(idx.meta, std::string(kMetaFileIdLimitKey), encode_meta_u64(1)).PermitUncheckedError();
    BCL_TRY(idx.write(wb, true, "create"));
    idx.uuid = uuid;
    idx.next_file_id = idx.file_id_limit = 1;
    return ok();
}

// A meta value every index has; Errc::corrupt naming fsck if it is absent
// or unreadable.
Result<std::string> required_meta(const IndexDb& idx, std::string_view key) {
    auto raw = idx.get(idx.meta, key);
    if (!raw) return raw.error();
    if (!raw.value()) return unreadable(idx.dir, fmt::format("no `{}` record", key));
    return std::move(*raw.value());
}

Status check_existing(IndexDb& idx, const IndexOptions& options) {
    auto version_raw = required_meta(idx, kMetaVersionKey);
    if (!version_raw) return version_raw.error();
    auto version = decode_meta_u64(version_raw.value());
    if (!version) return unreadable(idx.dir, version.error().message);
    if (version.value() > kIndexFormatVersion)
        return make_error(Errc::unsupported, fmt::format("index {} has format version {}; this program reads up to {}",
                                                         idx.dir, version.value(), kIndexFormatVersion));
    if (version.value() == 0) return unreadable(idx.dir, "format version 0");

    auto uuid_raw = required_meta(idx, kMetaUuidKey);
    if (!uuid_raw) return uuid_raw.error();
    auto uuid = decode_meta_uuid(uuid_raw.value());
    if (!uuid) return unreadable(idx.dir, uuid.error().message);
    if (options.cache_uuid && *options.cache_uuid != uuid.value())
        return make_error(Errc::foreign,
                          fmt::format("index {} belongs to cache {}, not to cache {}", idx.dir,
                                      uuid_to_string(uuid.value()), uuid_to_string(*options.cache_uuid)));
    idx.uuid = uuid.value();

    auto limit_raw = required_meta(idx, kMetaFileIdLimitKey);
    if (!limit_raw) return limit_raw.error();
    auto limit = decode_meta_u64(limit_raw.value());
    if (!limit || limit.value() == 0) return unreadable(idx.dir, "bad file id limit");
    // Ids of a block reserved before the last close may have been handed
    // out: start after the whole block.
    idx.next_file_id = idx.file_id_limit = limit.value();
    if (version.value() < kIndexFormatVersion && !options.read_only) {
        // open_db() created the families this version added.
        rocksdb::WriteBatch wb;
        wb.Put(idx.meta, std::string(kMetaVersionKey), encode_meta_u64(kIndexFormatVersion)).PermitUncheckedError();
        BCL_TRY(idx.write(wb, true, "upgrade"));
    }
    return ok();
}

// The index directory holds file names, sizes and extent maps of files
// other users may not see: it is made (or, when it exists empty, set to)
// 0700 whatever the umask. Its parents are made as any directory.
Status create_private_dir(const std::string& dir) {
    std::error_code ec;
    const fs::path parent = fs::path(dir).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec) return sys_error(ec.value(), fmt::format("create index directory {}", dir));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return sys_error(errno, fmt::format("create index directory {}", dir));
    if (::chmod(dir.c_str(), 0700) != 0) return sys_error(errno, fmt::format("index directory {}", dir));
    return ok();
}

}  // namespace

Result<bool> Index::exists(const std::string& dir) {
    auto state = probe(dir);
    if (!state) return state.error();
    return state.value() != DirState::missing && state.value() != DirState::empty;
}

Result<std::unique_ptr<Index>> Index::open(const std::string& dir, const IndexOptions& options) {
    if (dir.empty()) return make_error(Errc::invalid, "index directory not given");
    auto state = probe(dir);
    if (!state) return state.error();

    bool create = false;
    switch (state.value()) {
    case DirState::missing:
    case DirState::empty:
        if (!options.create_if_missing || options.read_only)
            return make_error(Errc::not_found, fmt::format("no index in {}", dir));
        if (!options.cache_uuid)
            return make_error(Errc::invalid, fmt::format("creating index {} needs the cache UUID", dir));
        create = true;
        break;
    case DirState::other_files:
        return make_error(Errc::corrupt, fmt::format("{} holds files but no index; run `bcachefs-lite-ctl fsck` "
                                                     "or name an empty directory",
                                                     dir));
    case DirState::has_index: break;
    }
    if (create) BCL_TRY(create_private_dir(dir));

    auto idx = std::make_unique<IndexDb>();
    idx->dir = dir;
    idx->block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
    idx->before_durable = options.before_durable;
    if (options.extent_map_extents > 0) idx->extent_map = std::make_unique<ExtentMap>(options.extent_map_extents);
    BCL_TRY(open_db(*idx, options, create));
    if (create)
        BCL_TRY(initialise(*idx, *options.cache_uuid));
    else
        BCL_TRY(check_existing(*idx, options));
    return std::unique_ptr<Index>(new Index(std::move(idx)));
}

}  // namespace bcl
