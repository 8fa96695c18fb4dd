// Opening the cache devices of a cache set: attach devices handed in, open
// existing cache devices or files, or create and format a cache file
// (create_size, one path only) when the path does not exist. Never formats
// anything that exists.
//
// Several devices must be exactly the members of one set (superblock
// membership, superblock_format.h): they are put in dev_idx order, the
// device number extents store, whatever order they were given in. Each
// refusal is one line and changes nothing:
//   Errc::foreign    devices of different sets
//   Errc::invalid    the same device twice; create_size with several paths
//   Errc::not_found  a member missing (the set and its dev_idx named, with
//                    the caller's hint: mount degraded, for a mount), or a
//                    path that does not exist
//   Errc::corrupt    members whose geometry differs
// With `degraded`, missing members are no refusal: their places stay
// empty (null) for the caller to fill with stand-ins (CacheDevice::missing).
//
// Thread safety: none needed (called once, by CacheSet::open or fsck).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/device/block_device.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/device/file_device.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

struct OpenedDevices {
    std::vector<std::unique_ptr<CacheDevice>> devices;  // by dev_idx; null: missing (degraded)
    bool created = false;                               // the one cache file was created and formatted
};

// What a mount can do when a member is missing.
inline constexpr std::string_view kMountMissingHint =
    "if it is lost, mount with degraded to write back the dirty data the others hold";

struct DeviceOpenOptions {
    // Create and format one cache file of this size where the one path
    // given does not exist. Default: none (never create).
    std::optional<std::uint64_t> create_size;
    // Missing members leave null places instead of a refusal.
    bool degraded = false;
    // How each path is opened (fsck opens read-only, not exclusively).
    FileDeviceOptions file;
    // Ends the refusal that names a missing member: what the caller may do.
    std::string_view missing_hint = kMountMissingHint;
};

Result<OpenedDevices> open_cache_devices(const std::vector<std::string>& paths,
                                         std::vector<std::unique_ptr<BlockDevice>> attach,
                                         const DeviceOpenOptions& options);

// Orders the devices by dev_idx after checking they are one whole set, or
// with `degraded` members of one set (a null in place of each missing one).
Result<std::vector<std::unique_ptr<CacheDevice>>> order_set_members(std::vector<std::unique_ptr<CacheDevice>> devices,
                                                                    bool degraded = false,
                                                                    std::string_view missing_hint = kMountMissingHint);

}  // namespace bcl
