// GcSnapshot: the marks of a complete GC pass (every bucket's GcMark and
// live sectors, and the pass's totals), saved beside the index at a clean
// close so that the next open starts serving at once instead of walking
// every extent first (with 10 million extents that walk takes seconds).
//
// When it may be used: the close makes it by a full pass after everything
// else has stopped, and writes it, with the index's sequence number after
// the close's last write (Index::sequence), to the file kGcSnapshotFile in
// the index directory, after that last write. An open takes the file away
// before it changes anything and uses the snapshot only when the index
// was closed clean and its sequence number is still the one recorded:
// nothing wrote to the index in between (not fsck --repair, not another
// tool). Any other case, or a file that does not decode or fit, means a
// walk of the index as before.
//
// File format: "bclgcs1\0", u64 sequence, u32 devices, u64 extents, live,
// dirty_bytes, pinned_bytes; per device u64 buckets, then per bucket u8
// mark and u16 sectors; u32 crc32c of all before it. Little endian.
//
// Thread safety: plain values and functions of the file system's state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

inline constexpr std::string_view kGcSnapshotFile = "gc-snapshot";

struct GcSnapshot {
    struct Bucket {
        GcMark mark = GcMark::unused;
        std::uint16_t sectors = 0;
        bool operator==(const Bucket&) const = default;
    };
    // Per device, every bucket from 0 to nbuckets - 1.
    std::vector<std::vector<Bucket>> devices;
    // Index::sequence() after the close's last write.
    std::uint64_t sequence = 0;
    std::uint64_t extents = 0;
    std::uint64_t live = 0;
    std::uint64_t dirty_bytes = 0;
    std::uint64_t pinned_bytes = 0;
    bool operator==(const GcSnapshot&) const = default;
};

// The marks the allocators hold now, without the totals.
GcSnapshot take_gc_snapshot(const AllocSet& alloc);

std::string encode_gc_snapshot(const GcSnapshot& snapshot);
// Errc::corrupt for bytes that are not a snapshot this program wrote.
Result<GcSnapshot> decode_gc_snapshot(std::string_view bytes);

// Writes the snapshot to kGcSnapshotFile in `index_dir`, durably (a new
// file, synced, renamed over the name, the directory synced).
Status save_gc_snapshot_file(const std::string& index_dir, const GcSnapshot& snapshot);
// Takes the file away from `index_dir` and returns what it held: nullopt
// when there was none; Errc::corrupt when it does not decode (it is gone
// all the same).
Result<std::optional<GcSnapshot>> take_gc_snapshot_file(const std::string& index_dir);

}  // namespace bcl
