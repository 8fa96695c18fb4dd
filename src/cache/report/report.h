// What a cache set says about itself, read off its core alone: the
// statistics and each device's state (stats.h, device_status.h). The
// figures of the parts (writeback's rate) are the set's to add.
#pragma once

#include <vector>

#include "bcachefs_lite/cache/device_status.h"
#include "bcachefs_lite/cache/stats.h"
#include "core/core.h"

namespace bcl {

// The counters, and the bucket figures as the allocator knows them now (one
// walk over the bucket table; during a GC pass, the figures of the last
// pass).
CacheStats stats_of(const CacheCore& core);
// Each device, in dev_idx order; Errc::again while a GC pass runs.
Result<std::vector<DeviceStatus>> device_status_of(const CacheCore& core);

}  // namespace bcl
