// What each cache device of a set is doing: whether it is in service, its
// I/O errors and how its data buckets are used. A set of several devices
// keeps going with one of them failed or missing (replicas, `degraded`),
// and the sums the other statistics give do not say which one that is.
//
// Thread safety: CacheSet::device_status() may be called from any thread;
// the rest are plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/cache/priority_stats.h"

namespace bcl {

enum class DeviceState : std::uint8_t {
    working,  // read and written
    failed,   // took the set out of service; read only for data held nowhere else
    missing,  // not given at a `degraded` mount; never read
};

std::string_view device_state_name(DeviceState state);

struct DeviceStatus {
    unsigned dev_idx = 0;
    std::string path;  // empty when missing
    DeviceState state = DeviceState::working;
    std::uint64_t io_errors = 0;  // the decayed count (io_error_counter.h)
    PriorityStats buckets;        // this device's data buckets alone
};

// A header line, then a line per device, in dev_idx order:
//   dev  state    io_errors  unused  clean  dirty  pinned  path
//   0    working  0          12%     80%    8%     0%      /dev/sdb1
// Percentages are of the device's data buckets, rounded down; the path is
// last, since it may hold spaces, and "-" for a missing device.
std::string format_device_status(const std::vector<DeviceStatus>& devices);

}  // namespace bcl
