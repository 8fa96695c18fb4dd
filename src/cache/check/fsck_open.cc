// open_fsck_devices(): the members of a cache set opened for fsck, with the
// mount's own membership checks and ordering (devices/open.h), but read-only
// and without claiming block devices: fsck never writes a device, and a
// mounted set is refused by its index lock (check_index_unused), which
// names the reason better than a busy device would.
#include "bcachefs_lite/cache/fsck.h"
#include "devices/open.h"

namespace bcl {

Result<std::vector<std::unique_ptr<CacheDevice>>> open_fsck_devices(const std::vector<std::string>& paths) {
    DeviceOpenOptions options;
    options.file.read_only = true;
    options.file.exclusive = false;
    // A missing member's extents would all look invalid: there is no
    // degraded fsck.
    options.missing_hint = "fsck needs every member of the set";
    auto opened = open_cache_devices(paths, {}, options);
    if (!opened) return opened.error();
    return std::move(opened.value().devices);
}

}  // namespace bcl
