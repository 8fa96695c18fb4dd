// Cache sets (devices/open.h, io/extent_ptrs.h): the devices of one set are
// opened together, in their dev_idx order, with one index keyed by the set
// UUID. Clean data (misses, writethrough, pinned data) takes one copy from the
// one-copy sector allocator; dirty data takes `replicas` copies at once from
// the other, each on another device, all written before the write is
// acknowledged, and its extent holds a pointer per copy (record version 2).
// Reads, writeback and moving GC read any copy on a device in service whose gen
// matches; GC and the consistency check count every copy; moving GC moves one
// copy at a time. A device that fails takes the set out of service and is never
// read again; its dirty data is written back from the other copy
// (health/io_errors.cc).
#include "devices/open.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "bcachefs_lite/device/format.h"

namespace bcl {

namespace {

Result<OpenedDevices> open_one_path(const std::string& path, std::optional<std::uint64_t> create_size,
                                    const FileDeviceOptions& file) {
    OpenedDevices out;
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
    auto dev = CacheDevice::open(path, file);
    if (!dev) {
        if (out.created) ::unlink(path.c_str());
        return dev.error();
    }
    out.devices.push_back(std::move(dev).value());
    return out;
}

// The same file or block device named twice (two paths, or one path twice)
// is found before anything is opened: a block device opened exclusively a
// second time would only say it is busy.
Status check_distinct_paths(const std::vector<std::string>& paths) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;
    for (const std::string& path : paths) {
        struct stat st;
        if (::stat(path.c_str(), &st) != 0) continue;  // its open says why
        const std::pair<std::uint64_t, std::uint64_t> id =
            S_ISBLK(st.st_mode) ? std::pair<std::uint64_t, std::uint64_t>{0, st.st_rdev}
                                : std::pair<std::uint64_t, std::uint64_t>{st.st_dev, st.st_ino};
        if (std::find(seen.begin(), seen.end(), id) != seen.end())
            return make_error(Errc::invalid, fmt::format("cache {} is given twice", path));
        seen.push_back(id);
    }
    return ok();
}

}  // namespace

Result<std::vector<std::unique_ptr<CacheDevice>>> order_set_members(std::vector<std::unique_ptr<CacheDevice>> devices,
                                                                    bool degraded, std::string_view missing_hint) {
    if (devices.size() == 1 && devices[0]->superblock().set_size() == 1) return devices;
    const Superblock& first = devices[0]->superblock();
    const std::string set = uuid_to_string(first.set_id());
    for (const auto& d : devices) {
        const Superblock& sb = d->superblock();
        if (sb.set_id() != first.set_id())
            return make_error(Errc::foreign,
                              fmt::format("cache {} belongs to cache set {}, but cache {} to cache set {}: give the "
                                          "devices of one set",
                                          devices[0]->path(), set, d->path(), uuid_to_string(sb.set_id())));
        if (sb.block_size != first.block_size || sb.bucket_size != first.bucket_size || sb.nr_in_set != first.nr_in_set)
            return make_error(Errc::corrupt,
                              fmt::format("caches {} and {} of cache set {} disagree on the set's geometry ({}/{} "
                                          "byte buckets, {}/{} byte blocks, {}/{} devices)",
                                          devices[0]->path(), d->path(), set, first.bucket_size, sb.bucket_size,
                                          first.block_size, sb.block_size, first.set_size(), sb.set_size()));
    }
    const unsigned n = first.set_size();
    std::vector<std::unique_ptr<CacheDevice>> ordered(n);
    for (auto& d : devices) {
        const unsigned idx = d->superblock().dev_idx;
        if (ordered[idx])
            return make_error(Errc::invalid,
                              fmt::format("caches {} and {} are both device {} of cache set {}: the same device is "
                                          "given twice",
                                          ordered[idx]->path(), d->path(), idx, set));
        ordered[idx] = std::move(d);
    }
    for (unsigned i = 0; i < n; ++i) {
        if (ordered[i] || degraded) continue;
        std::string given;
        for (const auto& d : ordered)
            if (d) given += (given.empty() ? "" : ":") + d->path();
        return make_error(Errc::not_found,
                          fmt::format("cache set {} has {} devices, but device {} of it is not given (given: {}); {}",
                                      set, n, i, given, missing_hint));
    }
    return ordered;
}

Result<OpenedDevices> open_cache_devices(const std::vector<std::string>& paths,
                                         std::vector<std::unique_ptr<BlockDevice>> attach,
                                         const DeviceOpenOptions& options) {
    const std::optional<std::uint64_t>& create_size = options.create_size;
    OpenedDevices out;
    if (!attach.empty()) {
        for (auto& a : attach) {
            auto dev = CacheDevice::attach(std::move(a));
            if (!dev) return dev.error();
            out.devices.push_back(std::move(dev).value());
        }
    } else if (paths.size() <= 1) {
        auto one = open_one_path(paths.empty() ? std::string() : paths[0], create_size, options.file);
        if (!one) return one.error();
        out = std::move(one).value();
    } else {
        if (create_size)
            return make_error(Errc::invalid,
                              "a cache size applies to one cache path: a cache set of several devices "
                              "is made with bcachefs-lite-ctl format DEV DEV...");
        BCL_TRY(check_distinct_paths(paths));
        for (const std::string& path : paths) {
            auto one = open_one_path(path, std::nullopt, options.file);
            if (!one) return one.error();
            out.devices.push_back(std::move(one.value().devices.front()));
        }
    }
    auto ordered = order_set_members(std::move(out.devices), options.degraded, options.missing_hint);
    if (!ordered) {
        if (out.created) ::unlink(paths[0].c_str());
        return ordered.error();
    }
    out.devices = std::move(ordered).value();
    return out;
}

}  // namespace bcl
