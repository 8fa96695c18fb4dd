// On-disk format of the index: a RocksDB database in one directory, with
// seven column families. This file holds what is common to all of them and
// the persistence-order rules; each record type has its own *_format.h
// (extent_format.h, file_format.h, bucket_format.h) and the `meta` values
// are defined here.
//
// Column families (keys big-endian so bytewise order is numeric order):
//   meta     name (ASCII) -> small value (UUID, format version, flags,
//            where the last mount found its cache, counters)
//   files    (st_dev, st_ino)             -> FileRecord   (file_format.h)
//   extents  (file id, end offset)        -> ExtentValue  (extent_format.h)
//   buckets  (device, bucket)             -> gen, prio    (bucket_format.h)
//   dirty_files  file id                  -> DirtyFileRecord (dirty_file_format.h)
//   pinned_files (st_dev, st_ino)         -> DirtyFileRecord: the file handle
//            of a pinned regular file, or of a directory whose pin (or
//            unpin) walk has not completed; how the cache finds them again
//            at mount to resume their fetch or walk
//   names    (parent id, name)            -> NameRecord   (name_format.h):
//            the ids of a mount that recognises files by path
//
// Every value begins with a one-byte record version and ends with the
// CRC-32C (little-endian) of all bytes before it; a decoder checks the
// checksum first (Errc::corrupt on mismatch or on a wrong length), then the
// version (Errc::unsupported for a version it does not know). Decoders are
// pure and never read outside the bytes they are given.
//
// Persistence order (the rules every writer follows; written once, here):
//  1. A bucket's bumped gen is durable (put_bucket_gens, one synced batch)
//     before the bucket is written again. After a crash, every extent that
//     points into a reused bucket carries the old gen and reads as stale.
//  2. An extent is inserted only after the data it points to has been
//     written to the cache device; a dirty (writeback) extent, or one whose
//     insert is synced, only after that data was flushed.
//  3. A dirty extent is marked clean (replaced with dirty = false) only
//     after its data reached the backing file durably.
//  4. A file record and the extents that replace a previous file's extents
//     go in one batch with the drop of the old extents; extents whose file
//     id has no record are garbage that GC removes.
//  5. File ids are reserved in blocks: the new high-water mark is synced to
//     `meta` before any id of the block is handed out, so no id repeats,
//     even after a crash (ids of a block not handed out are skipped).
//  6. The cache UUID and the format version are written in the same synced
//     batch that creates the index; an index without them is corrupt.
//  7. The clean-shutdown flag is cleared (synced) by the owner right after
//     open, before its first mutation, and set only after everything else
//     was flushed at close. A mount records where its cache devices are
//     (kMetaLastMountKey) in that same synced write.
//  8. Every synced write (and every memtable flush, which makes unsynced
//     writes durable too) is preceded by IndexOptions::before_durable, so
//     that the cache engine can flush the cache device first (rule 2).
//
// Thread safety: constants and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/uuid.h"

namespace bcl {

// The layout described above. An index with a higher version is refused
// with Errc::unsupported. Version 1 had no dirty_files family (and no dirty
// extents); opening one creates the family and records version 2. The
// pinned_files family came later within version 2: opening an index
// without it creates it (empty: no pin is resumed at mount until a pin is
// set again, and opening the file still resumes its fetch); an older
// program opens an index with it and leaves it alone. The names family
// came the same way, later still.
inline constexpr std::uint32_t kIndexFormatVersion = 2;

inline constexpr std::string_view kMetaColumnFamily = "meta";
inline constexpr std::string_view kFilesColumnFamily = "files";
inline constexpr std::string_view kExtentsColumnFamily = "extents";
inline constexpr std::string_view kBucketsColumnFamily = "buckets";
inline constexpr std::string_view kDirtyFilesColumnFamily = "dirty_files";
inline constexpr std::string_view kPinnedFilesColumnFamily = "pinned_files";
inline constexpr std::string_view kNamesColumnFamily = "names";

// Keys of the `meta` column family.
inline constexpr std::string_view kMetaUuidKey = "uuid";                  // uuid value
inline constexpr std::string_view kMetaVersionKey = "format_version";     // u64 value
inline constexpr std::string_view kMetaCleanKey = "clean_shutdown";       // u64 value, 0 or 1
inline constexpr std::string_view kMetaFileIdLimitKey = "file_id_limit";  // u64: ids below are used or skipped
// MountRecord value: where the cache devices of the last read-write open by
// a mount were, and when. Absent in an index no mount has opened since it
// was added (within format version 2); nothing needs it to open an index.
inline constexpr std::string_view kMetaLastMountKey = "last_mount";
// A caller's named counter is stored under this prefix followed by its name.
inline constexpr std::string_view kMetaCounterPrefix = "counter.";
// What a layer above saves of itself at a clean unmount for the next mount
// (the fs layer's read grants), under this prefix followed by its name.
// Losing it costs only work the next mount does again.
inline constexpr std::string_view kMetaSavedPrefix = "saved.";

// The version byte of meta values.
inline constexpr std::uint8_t kMetaValueVersion = 1;

// u64 meta value: version, u64 little-endian, crc32c. 13 bytes.
std::string encode_meta_u64(std::uint64_t value);
Result<std::uint64_t> decode_meta_u64(std::string_view bytes);

// UUID meta value: version, 16 bytes, crc32c. 21 bytes.
std::string encode_meta_uuid(const Uuid& uuid);
Result<Uuid> decode_meta_uuid(std::string_view bytes);

// Saved-state meta value: version, the bytes as given, crc32c. The bytes
// are the saving layer's own format.
std::string encode_meta_saved(std::string_view bytes);
Result<std::string> decode_meta_saved(std::string_view bytes);

// What a mount records at each read-write open (kMetaLastMountKey), so that
// an index whose cache is gone can be told from one whose cache is only
// unmounted (bcachefs-lite-ctl index list).
struct MountRecord {
    // Seconds since the epoch.
    std::uint64_t time = 0;
    // The cache device paths as the mount was given them, made absolute
    // (symbolic links are kept: /dev/disk/by-id names outlive /dev/sdX).
    // Empty when the devices were handed in already open.
    std::vector<std::string> cache_paths;

    bool operator==(const MountRecord&) const = default;
};
inline constexpr std::size_t kMountRecordMaxPaths = 256;
inline constexpr std::size_t kMountRecordMaxPathBytes = 4096;

// MountRecord value: version, u64 time, u32 path count, then each path as
// u32 length and bytes (all little-endian), crc32c. Paths past the limits
// above are not stored (the encoder drops them; the decoder calls them
// corrupt).
std::string encode_meta_mount(const MountRecord& record);
Result<MountRecord> decode_meta_mount(std::string_view bytes);

}  // namespace bcl
