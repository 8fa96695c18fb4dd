// Formatting a cache device: the mkfs of bcachefs-lite.
//
// Validation happens before anything is written; a refused format leaves
// the device byte for byte as it was. A regular file that is formatted is
// made private (kPrivateFileMode), whatever the umask. Refusals, each a one-line Error:
//   Errc::invalid      bad block or bucket size; a directory; --size on a
//                      block device; --size that differs from an existing
//                      non-empty file
//   Errc::no_space     too small for kMinUsableBuckets data buckets (the
//                      message says how large it must be)
//   Errc::exists       already a bcachefs-lite cache, or another filesystem
//                      or partition table found by libblkid (named), unless
//                      force
//   Errc::not_found, permission, busy, io   the device cannot be opened
//
// Thread safety: none needed; but two formats of one device at once are a
// race the caller must avoid (block devices are held with O_EXCL).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bcachefs_lite/device/block_device.h"
#include "bcachefs_lite/device/superblock.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// The mode of a cache file that format creates or formats: readable and
// writable by its owner alone, since it holds the cached data of files that
// other users may not read.
inline constexpr unsigned kPrivateFileMode = 0600;

struct FormatOptions {
    // Bytes; a power of two, >= block_size, <= 8 MiB. Default: 512 KiB.
    std::uint32_t bucket_size = kDefaultBucketSize;
    // Bytes; a power of two in [512, 65536]. Default: 4096.
    std::uint32_t block_size = kDefaultBlockSize;
    // Regular files only: create the file (sparse) with this size if it does
    // not exist or is empty. Default: unset (use the existing size).
    std::optional<std::uint64_t> size;
    // Default: lru.
    Replacement replacement = Replacement::lru;
    // Discard buckets before reuse, and the whole data area at format.
    // Default: false.
    bool discard = false;
    // Overwrite an existing cache or any other signature (which is wiped).
    // Default: false.
    bool force = false;
};

// Formats the device or file at path and returns the superblock written.
Result<Superblock> format_device(const std::string& path, const FormatOptions& options);

// Formats the devices or files at `paths` (two or more) as one cache set:
// one set UUID and geometry, each device its own UUID and its place
// (dev_idx) in the order given. Every device is checked before any is
// written (as format_device checks one; the same path twice is refused,
// Errc::invalid), so a refusal changes none of them. options.size creates
// files that do not exist, each of that size. Returns the superblocks
// written, in dev_idx order.
Result<std::vector<Superblock>> format_set(const std::vector<std::string>& paths, const FormatOptions& options);

// The same over open devices (tests format MemDevices as a set this way);
// refuses an existing bcachefs-lite superblock unless force.
Result<std::vector<Superblock>> format_block_device_set(const std::vector<BlockDevice*>& devices,
                                                        const FormatOptions& options);

// Writes a fresh superblock to an open device (tests format MemDevices this
// way). Refuses an existing bcachefs-lite superblock unless force; knows
// nothing of other filesystems. options.size must be unset.
Result<Superblock> format_block_device(BlockDevice& device, const FormatOptions& options);

// Writes `sb` (validated first) over the superblock of a formatted device
// and flushes: how kSbFlagDirty is set and cleared (superblock_format.h).
// A failure leaves the device as it was or the write torn; either way the
// caller must not go on as if the flag were changed.
Status rewrite_superblock(BlockDevice& device, const Superblock& sb);

// A filesystem or partition-table signature, as libblkid reports it.
struct Signature {
    std::string type;          // "ext4", "gpt", ...
    std::string usage;         // "filesystem", "partition table", ...
    std::uint64_t offset = 0;  // of the magic bytes
    std::uint64_t length = 0;  // of the magic bytes
};

// Every signature libblkid recognises on path (superblocks and partition
// tables), as mkfs tools probe. An empty list when there is none.
Result<std::vector<Signature>> probe_signatures(const std::string& path);

}  // namespace bcl
