// Bucket gens and prios: the allocator's durable state (bcache's
// prio_write), written as one synced batch for a whole set of buckets and
// read back at mount.
//
// Key (12 bytes): device index (big-endian u32), bucket (big-endian u64):
// the buckets of one device are contiguous, in bucket order.
//
// Value (kBucketValueSize bytes, little-endian):
//   u8  record version (kBucketValueVersion)
//   u8  gen
//   u16 prio
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

inline constexpr std::uint8_t kBucketValueVersion = 1;
inline constexpr std::size_t kBucketKeySize = 12;
inline constexpr std::size_t kBucketValueSize = 8;

struct BucketGenRecord {
    std::uint64_t bucket = 0;
    std::uint8_t gen = 0;
    std::uint16_t prio = 0;

    bool operator==(const BucketGenRecord&) const = default;
};

struct BucketKey {
    std::uint32_t device = 0;
    std::uint64_t bucket = 0;
};

std::string encode_bucket_key(std::uint32_t device, std::uint64_t bucket);
// Errc::corrupt unless exactly kBucketKeySize bytes.
Result<BucketKey> decode_bucket_key(std::string_view bytes);

// Encodes gen and prio (the bucket number is in the key).
std::string encode_bucket_value(const BucketGenRecord& record);
// Fills gen and prio; bucket stays 0. Errc::corrupt on a wrong size or
// checksum, Errc::unsupported on an unknown version.
Result<BucketGenRecord> decode_bucket_value(std::string_view bytes);

}  // namespace bcl
