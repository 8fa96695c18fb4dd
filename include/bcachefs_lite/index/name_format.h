// Name records: the stable id of a name below the backing root, for a mount
// that recognises files by path (identity=path), where the backing's inode
// numbers say nothing that lasts. The fs layer keys the file records of
// such a mount by these ids instead of by inode numbers.
//
// Key: the parent directory's id (big-endian u64; kRootNameId for the
// backing root), then the name's bytes as the backing spells them (no
// terminator, never empty). All names of one directory are adjacent.
//
// Value (kNameRecordSize bytes, little-endian):
//   u8  record version (kNameRecordVersion)
//   u64 id (never 0: 0 is the root's)
//   u32 file type (the S_IFMT bits of st_mode)
//   u32 crc32c of all bytes before it
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bcachefs_lite/util/error.h"

namespace bcl {

inline constexpr std::uint8_t kNameRecordVersion = 1;
inline constexpr std::size_t kNameRecordSize = 17;
// The id of the backing root; names directly below it have it as parent.
inline constexpr std::uint64_t kRootNameId = 0;

struct NameRecord {
    std::uint64_t id = 0;
    std::uint32_t type = 0;  // S_IFMT bits

    bool operator==(const NameRecord&) const = default;
};

std::string encode_name_key(std::uint64_t parent, std::string_view name);

std::string encode_name_record(const NameRecord& record);
// Errc::corrupt on a wrong size, a bad checksum or id 0; Errc::unsupported
// on an unknown record version.
Result<NameRecord> decode_name_record(std::string_view bytes);

}  // namespace bcl
