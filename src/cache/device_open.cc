#include "device_open.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "bcachefs_lite/device/format.h"

namespace bcl {

Result<OpenedDevice> open_cache_device(const std::string& path, std::unique_ptr<BlockDevice> attach,
                                       std::optional<std::uint64_t> create_size) {
    OpenedDevice out;
    if (attach) {
        auto dev = CacheDevice::attach(std::move(attach));
        if (!dev) return dev.error();
        out.device = std::move(dev).value();
        return out;
    }
    if (path.empty()) return make_error(Errc::invalid, "no cache device given");
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        const int err = errno;
        if (err != ENOENT) return sys_error(err, fmt::format("cache {}", path));
        if (!create_size)
            return Error{Errc::not_found, ENOENT,
                         fmt::format("cache {} does not exist (give a size to create a cache file there)", path)};
        FormatOptions fo;
        fo.size = *create_size;
        auto formatted = format_device(path, fo);
        if (!formatted) {
            // format_device may have created the file before refusing it.
            if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::unlink(path.c_str());
            return formatted.error();
        }
        out.created = true;
    }
    auto dev = CacheDevice::open(path);
    if (!dev) {
        if (out.created) ::unlink(path.c_str());
        return dev.error();
    }
    out.device = std::move(dev).value();
    return out;
}

}  // namespace bcl
