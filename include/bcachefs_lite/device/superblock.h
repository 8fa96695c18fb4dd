// The cache device's superblock in memory, its geometry, and the pure
// functions that turn it into the on-disk block and back
// (superblock_format.h has the layout).
//
// Sizes follow bcache: buckets and blocks in bytes here, sector counts in
// 512-byte sectors where the allocator and extents want them.
//
// Thread safety: values and pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "bcachefs_lite/device/superblock_format.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/sector.h"
#include "bcachefs_lite/util/uuid.h"
#include "bcachefs_lite/util/replacement.h"

namespace bcl {

inline constexpr std::uint32_t kMinBlockSize = 512;
inline constexpr std::uint32_t kMaxBlockSize = 65536;
inline constexpr std::uint32_t kDefaultBlockSize = 4096;
inline constexpr std::uint32_t kMaxBucketSize = 8u << 20;
inline constexpr std::uint32_t kDefaultBucketSize = 512u << 10;
// The most devices one cache set may have (the allocator's kMaxAllocSet).
inline constexpr unsigned kMaxSetDevices = 8;
// Fewer usable buckets than this leaves the allocator's reserves no room.
inline constexpr std::uint64_t kMinUsableBuckets = 64;

struct Superblock {
    std::uint32_t version = kFormatVersion;
    std::uint32_t flags = 0;  // kSbFlag*
    Uuid uuid{};
    std::uint32_t block_size = kDefaultBlockSize;
    std::uint32_t bucket_size = kDefaultBucketSize;
    // Buckets on the device, counting the ones below first_bucket.
    std::uint64_t nbuckets = 0;
    std::uint64_t first_bucket = 0;
    Replacement replacement = Replacement::lru;
    std::uint64_t created = 0;  // seconds since the Unix epoch
    // Membership (superblock_format.h): all zero for a device alone.
    Uuid set_uuid{};
    std::uint8_t nr_in_set = 0;
    std::uint8_t dev_idx = 0;

    // The set's UUID: its own for a device alone. The index of a set is
    // kept under it.
    const Uuid& set_id() const { return nr_in_set == 0 ? uuid : set_uuid; }
    // Devices in the set: 1 for a device alone.
    unsigned set_size() const { return nr_in_set == 0 ? 1u : nr_in_set; }
    bool discard() const { return (flags & kSbFlagDiscard) != 0; }
    bool dirty() const { return (flags & kSbFlagDirty) != 0; }
    std::uint64_t usable_buckets() const { return nbuckets - first_bucket; }
    // Bytes of data buckets.
    std::uint64_t capacity() const { return usable_buckets() * bucket_size; }
    // Bytes the geometry covers; never more than the device.
    std::uint64_t device_bytes() const { return nbuckets * bucket_size; }
    std::uint64_t bucket_offset(std::uint64_t bucket) const { return bucket * bucket_size; }
    std::uint32_t bucket_sectors() const { return bucket_size >> kSectorShift; }
    std::uint32_t block_sectors() const { return block_size >> kSectorShift; }

    bool operator==(const Superblock&) const = default;
};

// Errc::invalid naming the offending size unless block_size is a power of
// two in [512, 65536] and bucket_size a power of two in [block_size, 8 MiB].
Status validate_sizes(std::uint64_t block_size, std::uint64_t bucket_size);

// The first bucket past the superblock region: ceil(8192 / bucket_size).
constexpr std::uint64_t first_bucket_for(std::uint64_t bucket_size) {
    return (kSuperblockRegionEnd + bucket_size - 1) / bucket_size;
}

// The smallest device that holds kMinUsableBuckets data buckets.
constexpr std::uint64_t min_device_size(std::uint64_t bucket_size) {
    return (first_bucket_for(bucket_size) + kMinUsableBuckets) * bucket_size;
}

// Checks everything decode() checks past the checksum: sizes, first_bucket,
// at least kMinUsableBuckets, no overflow, known replacement and flags, a
// non-nil UUID, a consistent membership (all zero, or a non-nil set UUID,
// 1 <= nr_in_set <= kMaxSetDevices and dev_idx < nr_in_set). Errc::corrupt (unsupported for unknown flags).
Status validate_superblock(const Superblock& sb);

// The 4096-byte on-disk block, checksum filled in.
std::array<std::byte, kSuperblockSize> encode_superblock(const Superblock& sb);

// Parses a block read from kSuperblockOffset. Never trusts the input: any
// byte pattern yields a Superblock or an error, never a crash.
//   Errc::invalid      block is not kSuperblockSize bytes
//   Errc::foreign      wrong magic ("not a bcachefs-lite cache device")
//   Errc::corrupt      bad checksum or impossible geometry
//   Errc::unsupported  unknown format version or flags
Result<Superblock> decode_superblock(std::span<const std::byte> block);

// True when the block starts with our magic, whatever the rest holds.
bool has_superblock_magic(std::span<const std::byte> block);

}  // namespace bcl
