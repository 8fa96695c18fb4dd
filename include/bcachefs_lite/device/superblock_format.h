// The cache device's superblock as it lies on disk: one 4096-byte block at
// byte offset 4096. The 4 KiB before it are left alone (room for a partition
// table or boot code, as bcache leaves them), and data buckets begin at the
// first bucket boundary at or past byte 8192.
//
// Every integer is little-endian and stored as a byte array, so the struct
// has alignment 1, no padding, and the same layout on every host; the
// static_asserts below pin each offset. `csum` is CRC-32C over the whole
// 4096-byte block computed with `csum` itself zeroed. Bytes past the last
// field are zero when written and covered by the checksum.
//
// Set membership (set_uuid, nr_in_set, dev_idx): the devices formatted
// together as one cache set share set_uuid and the geometry, and each has
// its own uuid and its place dev_idx in [0, nr_in_set), the device number
// extents store. A device formatted alone has them all zero: a set of one
// whose set UUID is its own UUID (every cache formatted before sets
// existed reads so, with the same format version).
//
// Persistence rule: the superblock is written by format, with O_DIRECT and
// followed by a flush. After that it is rewritten (one block write and a
// flush, rewrite_superblock()) only to change a state flag: kSbFlagIndexed
// once in the cache's life, kSbFlagDirty at most twice a mount (set before
// the first dirty data goes to the device, cleared by a clean close that
// leaves none).
//
// Thread safety: plain data.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace bcl {

inline constexpr std::uint64_t kSuperblockOffset = 4096;
inline constexpr std::uint32_t kSuperblockSize = 4096;
// Everything below this byte belongs to the superblock region; the first data
// bucket starts at or after it.
inline constexpr std::uint64_t kSuperblockRegionEnd = kSuperblockOffset + kSuperblockSize;

inline constexpr std::array<std::uint8_t, 16> kSuperblockMagic = {'b', 'c', 'a', 'c', 'h', 'e',  'f',  's',
                                                                  '-', 'l', 'i', 't', 'e', 0x00, 0xc5, 0x1b};

inline constexpr std::uint32_t kFormatVersion = 1;

// Superblock flags.
inline constexpr std::uint32_t kSbFlagDiscard = 1u << 0;  // discard buckets before reuse
// The cache may hold dirty data, whose only copy it is: without its index
// that data cannot be found, so a missing index is an error, not a cold
// cache (bcache's BDEV_STATE_DIRTY). Set durably before the first dirty
// write of a mount reaches the device.
inline constexpr std::uint32_t kSbFlagDirty = 1u << 1;
// An index has been made for this cache: a missing one was lost, and the
// mount that makes a new one says so (set at the end of the first mount).
inline constexpr std::uint32_t kSbFlagIndexed = 1u << 2;
inline constexpr std::uint32_t kSbKnownFlags = kSbFlagDiscard | kSbFlagDirty | kSbFlagIndexed;

// A little-endian integer of N bytes kept as raw bytes.
template <class T>
struct LeInt {
    static_assert(std::is_unsigned_v<T>);
    std::array<std::uint8_t, sizeof(T)> bytes;

    constexpr T get() const {
        T v = 0;
        for (std::size_t i = sizeof(T); i-- > 0;) v = static_cast<T>((v << 8) | bytes[i]);
        return v;
    }
    constexpr void set(T v) {
        for (std::size_t i = 0; i < sizeof(T); ++i) {
            bytes[i] = static_cast<std::uint8_t>(v & 0xff);
            if constexpr (sizeof(T) > 1) v = static_cast<T>(v >> 8);
        }
    }
};

using le32 = LeInt<std::uint32_t>;
using le64 = LeInt<std::uint64_t>;

struct SuperblockDisk {
    std::array<std::uint8_t, 16> magic;                        // kSuperblockMagic
    le32 csum;                                                 // CRC-32C of the block with csum = 0
    le32 version;                                              // kFormatVersion
    le32 flags;                                                // kSbFlag*
    le32 block_size;                                           // bytes; power of two, 512..65536
    std::array<std::uint8_t, 16> uuid;                         // never nil
    le32 bucket_size;                                          // bytes; power of two, block_size..8 MiB
    std::uint8_t replacement;                                  // Replacement
    std::array<std::uint8_t, 3> pad0;                          // zero
    le64 nbuckets;                                             // device size / bucket_size, rounded down
    le64 first_bucket;                                         // ceil(kSuperblockRegionEnd / bucket_size)
    le64 created;                                              // seconds since the Unix epoch
    std::array<std::uint8_t, 16> set_uuid;                     // zero for a device alone
    std::uint8_t nr_in_set;                                    // devices of the set; zero for a device alone
    std::uint8_t dev_idx;                                      // this device's place in the set, < nr_in_set
    std::array<std::uint8_t, 2> pad1;                          // zero
    std::array<std::uint8_t, kSuperblockSize - 100> reserved;  // zero
};

static_assert(sizeof(SuperblockDisk) == kSuperblockSize);
static_assert(alignof(SuperblockDisk) == 1);
static_assert(std::is_trivially_copyable_v<SuperblockDisk>);
static_assert(std::is_standard_layout_v<SuperblockDisk>);
static_assert(offsetof(SuperblockDisk, magic) == 0);
static_assert(offsetof(SuperblockDisk, csum) == 16);
static_assert(offsetof(SuperblockDisk, version) == 20);
static_assert(offsetof(SuperblockDisk, flags) == 24);
static_assert(offsetof(SuperblockDisk, block_size) == 28);
static_assert(offsetof(SuperblockDisk, uuid) == 32);
static_assert(offsetof(SuperblockDisk, bucket_size) == 48);
static_assert(offsetof(SuperblockDisk, replacement) == 52);
static_assert(offsetof(SuperblockDisk, nbuckets) == 56);
static_assert(offsetof(SuperblockDisk, first_bucket) == 64);
static_assert(offsetof(SuperblockDisk, created) == 72);
static_assert(offsetof(SuperblockDisk, set_uuid) == 80);
static_assert(offsetof(SuperblockDisk, nr_in_set) == 96);
static_assert(offsetof(SuperblockDisk, dev_idx) == 97);
static_assert(offsetof(SuperblockDisk, pad1) == 98);
static_assert(offsetof(SuperblockDisk, reserved) == 100);

}  // namespace bcl
