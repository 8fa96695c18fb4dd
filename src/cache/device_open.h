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
//                    the hint to mount degraded), or a path that does not
//                    exist
//   Errc::corrupt    members whose geometry differs
// With `degraded`, missing members are no refusal: their places stay
// empty (null) for the caller to fill with stand-ins (CacheDevice::missing).
//
// Thread safety: none needed (called once, by CacheSet::open).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bcachefs_lite/device/block_device.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

struct OpenedDevices {
    std::vector<std::unique_ptr<CacheDevice>> devices;  // by dev_idx; null: missing (degraded)
    bool created = false;  // the one cache file was created and formatted
};

Result<OpenedDevices> open_cache_devices(const std::vector<std::string>& paths,
                                         std::vector<std::unique_ptr<BlockDevice>> attach,
                                         std::optional<std::uint64_t> create_size, bool degraded = false);

// Orders the devices by dev_idx after checking they are one whole set, or
// with `degraded` members of one set (a null in place of each missing one).
Result<std::vector<std::unique_ptr<CacheDevice>>> order_set_members(std::vector<std::unique_ptr<CacheDevice>> devices,
                                                                    bool degraded = false);

}  // namespace bcl
