// The kSbFlagDirty bit of a cache device's superblock, kept in step with
// the dirty data on that device (superblock_format.h): set, durably,
// before the first dirty data of a mount is written to the device, and
// cleared when a clean close leaves no dirty data. With it, a lost index
// is told apart from a cache that only ever held clean data, which may
// simply start cold.
//
// Thread safety: mark() may be called from any thread; the rewrite runs
// under a mutex, and once the flag is set the call costs an atomic load.
// clear() belongs to close().
#pragma once

#include <atomic>
#include <mutex>

#include "bcachefs_lite/device/block_device.h"
#include "bcachefs_lite/device/superblock.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

class SuperblockDirtyFlag {
public:
    // `sb` is the superblock the device was opened with.
    SuperblockDirtyFlag(BlockDevice& device, const Superblock& sb);

    bool is_set() const { return set_.load(std::memory_order_acquire); }
    // Sets the flag on the device (a no-op when it is set). Dirty data may
    // be written only after this returned ok.
    Status mark();
    // Clears the flag on the device (a no-op when it is clear). The caller
    // has made sure the device holds no dirty data.
    Status clear();

private:
    Status write_locked(bool dirty);

    BlockDevice& device_;
    std::mutex mutex_;
    Superblock sb_;  // as on the device; guarded by mutex_
    std::atomic<bool> set_;
};

}  // namespace bcl
