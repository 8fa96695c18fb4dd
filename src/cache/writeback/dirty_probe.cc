#include "bcachefs_lite/cache/dirty_probe.h"

#include <filesystem>

#include "bcachefs_lite/cache/cache_set_options.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/device/file_device.h"
#include "bcachefs_lite/index/index.h"

namespace bcl {

Result<std::uint64_t> count_dirty_files(const std::string& cache_path, const std::optional<std::string>& index_dir) {
    std::error_code ec;
    if (!std::filesystem::exists(cache_path, ec)) return 0;
    FileDeviceOptions fo;
    fo.read_only = true;
    auto dev = FileDevice::open(cache_path, fo);
    if (!dev) return dev.error();
    auto sb = read_superblock(*dev.value());
    if (!sb) return 0;  // not a cache (yet): nothing can be dirty
    const std::string dir =
        index_dir.value_or(std::string(kDefaultIndexRoot) + "/" + uuid_to_string(sb.value().set_id()));
    IndexOptions io;
    io.read_only = true;
    io.cache_uuid = sb.value().set_id();
    auto index = Index::open(dir, io);
    if (!index) {
        if (index.error().code == Errc::not_found) return 0;
        return index.error();
    }
    std::uint64_t files = 0;
    for (std::uint64_t from = 0;;) {
        auto next = index.value()->next_dirty_file(from);
        if (!next) return next.error();
        if (!next.value()) return files;
        ++files;
        from = next.value()->first + 1;
    }
}

}  // namespace bcl
