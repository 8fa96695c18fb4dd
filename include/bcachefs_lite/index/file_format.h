// File records: which cache file id a backing file has, and what the
// backing file looked like when its data was cached.
//
// Key (16 bytes): st_dev, st_ino; both big-endian u64. One record per
// (dev, ino), so finding it is one Get. An inode number reused after an
// unlink maps to the same key: the record keeps the birth time (statx
// btime, where the filesystem has one) and the caller compares it, with
// size, mtime and ctime, against what it sees now (FileRecord::matches).
// When they differ the file has changed or is another file: the caller
// drops the old file id's extents and puts a record with a new id.
//
// Value (kFileRecordSize bytes, little-endian):
//   u8  record version (kFileRecordVersion)
//   u64 file id (never 0, never reused)
//   u64 size
//   i64 mtime, ns since the epoch
//   i64 ctime, ns since the epoch
//   i64 btime, ns since the epoch; 0 where the filesystem has none
//   u32 flags (kFilePinned; unknown bits are kept)
//   u32 generation: the caller's record version, for future format
//       changes of what a record means; 0 today
//   u32 crc32c of all bytes before it
//
// Thread safety: plain values and pure functions.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bcachefs_lite/util/error.h"

namespace bcl {

inline constexpr std::uint8_t kFileRecordVersion = 1;
inline constexpr std::size_t kFileKeySize = 16;
inline constexpr std::size_t kFileRecordSize = 53;

// The file's data stays in the cache (flash-only; never invalidated).
inline constexpr std::uint32_t kFilePinned = 1u << 0;

// What a backing file is, as stat/statx say it now.
struct FileIdentity {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::int64_t btime_ns = 0;  // 0 when the filesystem has no birth time

    auto operator<=>(const FileIdentity&) const = default;
};

struct FileRecord {
    std::uint64_t file_id = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::int64_t btime_ns = 0;
    std::uint32_t flags = 0;
    std::uint32_t generation = 0;

    bool pinned() const { return (flags & kFilePinned) != 0; }

    // True when the record describes the file `id` with this size, mtime
    // and ctime: the cached data may be used.
    bool matches(const FileIdentity& id, std::uint64_t size_now, std::int64_t mtime_now, std::int64_t ctime_now) const {
        return btime_ns == id.btime_ns && size == size_now && mtime_ns == mtime_now && ctime_ns == ctime_now;
    }

    bool operator==(const FileRecord&) const = default;
};

std::string encode_file_key(std::uint64_t dev, std::uint64_t ino);
// Errc::corrupt unless exactly kFileKeySize bytes.
Result<FileIdentity> decode_file_key(std::string_view bytes);

std::string encode_file_record(const FileRecord& record);
// Errc::corrupt on a wrong size, a bad checksum or file id 0;
// Errc::unsupported on an unknown record version.
Result<FileRecord> decode_file_record(std::string_view bytes);

}  // namespace bcl
