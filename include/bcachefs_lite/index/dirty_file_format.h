// Dirty-file records: which backing file a cache file id with dirty
// (writeback) extents belongs to, so that writeback can find the file again
// after a restart, whatever it was renamed to.
//
// Key (8 bytes): file id, big-endian u64, so writeback walks files in id
// order.
//
// Value (kDirtyFileRecordSize bytes, little-endian):
//   u8  record version (kDirtyFileRecordVersion)
//   u64 st_dev
//   u64 st_ino
//   i64 btime, ns since the epoch; 0 where the filesystem has none
//   i32 file handle type (struct file_handle's handle_type)
//   u32 file handle length in bytes, <= kMaxFileHandleBytes
//   u8  file handle bytes [kMaxFileHandleBytes], zero after the length
//   u32 crc32c of all bytes before it
//
// The file handle is name_to_handle_at(2)'s, resolved with
// open_by_handle_at(2) against the backing directory's root. A record is
// written in the same batch as every dirty extent insert of its file and
// deleted only once the file has no dirty extent left (or its last link is
// gone), so a file id with dirty extents always has one.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bcachefs_lite/util/error.h"

namespace bcl {

inline constexpr std::uint8_t kDirtyFileRecordVersion = 1;
inline constexpr std::size_t kDirtyFileKeySize = 8;
// MAX_HANDLE_SZ of the kernel.
inline constexpr std::size_t kMaxFileHandleBytes = 128;
inline constexpr std::size_t kDirtyFileRecordSize = 1 + 8 + 8 + 8 + 4 + 4 + kMaxFileHandleBytes + 4;

struct DirtyFileRecord {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::int64_t btime_ns = 0;
    std::int32_t handle_type = 0;
    std::string handle;  // at most kMaxFileHandleBytes bytes

    bool operator==(const DirtyFileRecord&) const = default;
};

std::string encode_dirty_file_key(std::uint64_t file_id);
// Errc::corrupt unless exactly kDirtyFileKeySize bytes.
Result<std::uint64_t> decode_dirty_file_key(std::string_view bytes);

// Errc::invalid when the handle is longer than kMaxFileHandleBytes.
Result<std::string> encode_dirty_file_record(const DirtyFileRecord& record);
// Errc::corrupt on a wrong size, a bad checksum or a handle length out of
// range; Errc::unsupported on an unknown record version.
Result<DirtyFileRecord> decode_dirty_file_record(std::string_view bytes);

}  // namespace bcl
