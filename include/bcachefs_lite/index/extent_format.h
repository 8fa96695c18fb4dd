// Extents: which bytes of a cached file live where on a cache device.
//
// Key (16 bytes): file id, end offset; both big-endian u64. Keyed by the
// END offset as bcache does: the extents of one file sort in file order and
// one Seek to (file, offset + 1) lands on the first extent that may hold
// `offset`. An extent covers the bytes [end - length, end) of its file.
//
// Value (kExtentValueSize bytes, little-endian):
//   u8  record version (kExtentValueVersion)
//   u8  flags (kExtentDirty, kExtentCrcValid, kExtentPinned; other bits are
//       kept as they are by everything in this layer)
//   u8  device index
//   u8  bucket gen
//   u64 length in bytes
//   u64 bucket
//   u64 device sector: the 512-byte sector holding the extent's FIRST byte
//   u64 crc offset: bytes from the start of the checksummed range to the
//       extent's first byte
//   u64 crc length: bytes covered by data_crc
//   u32 data_crc
//   u32 crc32c of all bytes before it
//
// Record version 2 (kExtentValueVersion2, kExtentValueSize2 bytes) is an
// extent with a second copy of its data, on another device of the cache
// set (replicated dirty data): the same fields, then before the crc32c
//   u8  device index of the copy
//   u8  bucket gen of the copy
//   u64 bucket of the copy
//   u64 device sector of the copy's first byte
// Both copies hold the same bytes in the same layout: crc_offset,
// crc_length and data_crc describe both, each copy's checksummed range
// starting at its own sector * 512 - crc_offset. An extent with one copy is
// written as version 1, so indexes made before copies existed read as
// they are.
//
// Checksums of trimmed extents. data_crc is the CRC-32C of the crc_length
// bytes on the device that start crc_offset bytes before the extent's first
// byte, i.e. at byte (sector * 512 - crc_offset). A new extent has
// crc_offset 0 and crc_length == length. Trimming an extent (front, back,
// or splitting it) keeps data_crc, crc_length and the checksummed range,
// and only moves the window: trimming d bytes off the front adds d/512 to
// sector and d to crc_offset. A reader can always verify a piece by reading
// the whole checksummed range, which stays on the device as long as the
// bucket's gen matches (a bucket is rewritten only after its gen is bumped,
// rule 1 of index_format.h). The invariant is crc_offset + length <=
// crc_length. Without kExtentCrcValid, data_crc means nothing.
//
// Offsets and lengths are multiples of kSectorSize (the device sector is
// the unit of `sector`); the index assumes no other block size.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/sector.h"

namespace bcl {

// The unit of ExtentValue::sector (kSectorSize, util/sector.h); offsets and
// lengths are multiples of it.

inline constexpr std::uint8_t kExtentValueVersion = 1;
inline constexpr std::uint8_t kExtentValueVersion2 = 2;
inline constexpr std::size_t kExtentKeySize = 16;
inline constexpr std::size_t kExtentValueSize = 52;
inline constexpr std::size_t kExtentValueSize2 = 70;
// Copies an extent may have (the first pointer and one replica).
inline constexpr unsigned kMaxExtentPtrs = 2;

// The data has not reached the backing file yet (writeback).
inline constexpr std::uint8_t kExtentDirty = 1u << 0;
// data_crc holds the checksum of the range described above.
inline constexpr std::uint8_t kExtentCrcValid = 1u << 1;
// The data belongs to a pinned file and lives in a bucket of pinned data
// only: GC marks its bucket GcMark::pinned (never invalidated). An index
// written before pinning existed has no such extent.
inline constexpr std::uint8_t kExtentPinned = 1u << 2;

struct ExtentKey {
    std::uint64_t file = 0;
    std::uint64_t end = 0;  // exclusive end offset in the file, in bytes

    auto operator<=>(const ExtentKey&) const = default;
};

// Where one copy of an extent's data lies.
struct ExtentPtr {
    std::uint8_t device = 0;
    std::uint64_t bucket = 0;
    std::uint8_t gen = 0;
    std::uint64_t sector = 0;  // device sector of the first byte

    bool operator==(const ExtentPtr&) const = default;
};

struct ExtentValue {
    std::uint64_t length = 0;  // bytes; the extent is [end - length, end)
    std::uint8_t device = 0;
    std::uint64_t bucket = 0;
    std::uint8_t gen = 0;
    std::uint64_t sector = 0;  // device sector of the first byte
    std::uint8_t flags = 0;    // kExtentDirty | kExtentCrcValid | kExtentPinned | ...
    std::uint32_t data_crc = 0;
    std::uint64_t crc_offset = 0;
    std::uint64_t crc_length = 0;
    // The second copy, on another device (record version 2).
    std::optional<ExtentPtr> replica;

    unsigned nptrs() const { return replica ? 2u : 1u; }
    // Copy i < nptrs(): 0 is the fields above, 1 the replica.
    ExtentPtr ptr(unsigned i) const { return i == 0 ? ExtentPtr{device, bucket, gen, sector} : *replica; }
    void set_ptr(unsigned i, const ExtentPtr& p) {
        if (i != 0) {
            replica = p;
            return;
        }
        device = p.device;
        bucket = p.bucket;
        gen = p.gen;
        sector = p.sector;
    }
    // The copy on `device`, if the extent has one there.
    std::optional<unsigned> ptr_on(std::uint8_t dev) const {
        for (unsigned i = 0; i < nptrs(); ++i)
            if (ptr(i).device == dev) return i;
        return std::nullopt;
    }

    bool dirty() const { return (flags & kExtentDirty) != 0; }
    bool crc_valid() const { return (flags & kExtentCrcValid) != 0; }
    bool pinned() const { return (flags & kExtentPinned) != 0; }
    // Byte offset on the device of the checksummed range's first byte.
    std::uint64_t crc_device_offset() const { return sector * kSectorSize - crc_offset; }
    // The same for copy i.
    std::uint64_t crc_device_offset(unsigned i) const { return ptr(i).sector * kSectorSize - crc_offset; }

    bool operator==(const ExtentValue&) const = default;
};

// A new extent over `length` bytes at `sector`, with its data checksum.
ExtentValue make_extent_value(std::uint64_t length, std::uint8_t device, std::uint64_t bucket, std::uint8_t gen,
                              std::uint64_t sector, std::uint32_t data_crc, bool dirty);

std::string encode_extent_key(const ExtentKey& key);
Result<ExtentKey> decode_extent_key(std::string_view bytes);

std::string encode_extent_value(const ExtentValue& value);
// Errc::corrupt on a wrong size, a bad checksum or fields that contradict
// each other (zero or unaligned length, crc window outside crc_length, a
// checksummed range of either copy that starts before byte 0 or whose end
// offset does not fit in 64 bits, two copies on one device); accepts
// record versions 1 and 2.
Result<ExtentValue> decode_extent_value(std::string_view bytes);

// The part [skip, skip + length) of the extent `v` (byte offsets relative
// to its start; both multiples of kSectorSize, within v.length): same
// devices, buckets, gens, flags and checksummed range, the sector of every
// copy and crc_offset moved forward.
ExtentValue slice_extent_value(const ExtentValue& v, std::uint64_t skip, std::uint64_t length);

}  // namespace bcl
