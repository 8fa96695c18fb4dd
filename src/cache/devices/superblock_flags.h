// The state flags of a cache device's superblock (superblock_format.h),
// set and cleared as the cache set's state changes:
//  - kSbFlagDirty, kept in step with the dirty data on the device: set,
//    durably, before the first dirty data of a mount is written to it, and
//    cleared when a clean close leaves no dirty data;
//  - kSbFlagIndexed, set once the device has an index.
// With them a lost index is told apart from a first mount (which is
// silent) and from a cache whose dirty data it would lose (refused).
//
// Thread safety: set() may be called from any thread; the rewrite runs
// under a mutex, and once a flag is set, setting it costs an atomic load.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "bcachefs_lite/device/block_device.h"
#include "bcachefs_lite/device/superblock.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

class SuperblockFlags {
public:
    // `sb` is the superblock the device was opened with.
    SuperblockFlags(BlockDevice& device, const Superblock& sb);

    bool has(std::uint32_t flag) const { return (flags_.load(std::memory_order_acquire) & flag) != 0; }
    // Sets `flag` on the device (a no-op when it is set). Only after this
    // returned ok may the device be used as the flag says (dirty data
    // written after kSbFlagDirty).
    Status set(std::uint32_t flag);
    // Clears `flag` on the device (a no-op when it is clear).
    Status clear(std::uint32_t flag);

private:
    Status write_locked(std::uint32_t flags);

    BlockDevice& device_;
    std::mutex mutex_;
    Superblock sb_;  // as on the device; guarded by mutex_
    std::atomic<std::uint32_t> flags_;
};

}  // namespace bcl
