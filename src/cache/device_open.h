// Opening the cache device of a cache set: attach a device handed in, open
// an existing cache device or file, or create and format a cache file
// (create_size) when the path does not exist. Never formats anything that
// exists.
//
// Thread safety: none needed (called once, by CacheSet::open).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "bcachefs_lite/device/block_device.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

struct OpenedDevice {
    std::unique_ptr<CacheDevice> device;
    bool created = false;  // a cache file was created and formatted
};

Result<OpenedDevice> open_cache_device(const std::string& path, std::unique_ptr<BlockDevice> attach,
                                       std::optional<std::uint64_t> create_size);

}  // namespace bcl
