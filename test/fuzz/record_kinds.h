// How an input of fuzz_index_records names what it holds: its first byte,
// modulo kRecordKindCount, is the kind of key or value; the byte divided by
// kRecordKindCount is how the rest is framed (RecordFraming). Shared with
// the seed generator, so that the seeds say what they are.
#pragma once

#include <cstdint>

namespace bcl::fuzz {

enum class RecordKind : std::uint8_t {
    extent_key,
    extent_value,
    file_key,
    file_record,
    dirty_file_key,
    dirty_file_record,
    bucket_key,
    bucket_value,
    meta_u64,
    meta_uuid,
};
inline constexpr unsigned kRecordKindCount = 10;

enum class RecordFraming : std::uint8_t {
    raw,     // the bytes as they are
    sealed,  // the bytes with their CRC-32C appended, as every value ends
    framed,  // cut or padded to the value's size, its version byte set, sealed
};
inline constexpr unsigned kRecordFramingCount = 3;

constexpr std::uint8_t record_selector(RecordKind kind, RecordFraming framing) {
    return static_cast<std::uint8_t>(static_cast<unsigned>(framing) * kRecordKindCount + static_cast<unsigned>(kind));
}

}  // namespace bcl::fuzz
