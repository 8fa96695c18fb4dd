#include "bcachefs_lite/fs/mount_checks.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace bcl {
namespace {

namespace stdfs = std::filesystem;

Result<std::string> canonical_dir(const std::string& path, std::string_view role) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        int err = errno;
        if (err == ENOENT) return Error{Errc::not_found, err, fmt::format("{} {} does not exist", role, path)};
        if (err == ENOTCONN) {
            return Error{Errc::busy, err,
                         fmt::format("{} {} is a FUSE mount whose daemon is gone; unmount it with 'umount -l {}'", role,
                                     path, path)};
        }
        return sys_error(err, fmt::format("{} {}", role, path));
    }
    if (!S_ISDIR(st.st_mode)) return make_error(Errc::invalid, fmt::format("{} {} is not a directory", role, path));
    std::error_code ec;
    stdfs::path canonical = stdfs::canonical(path, ec);
    if (ec) return sys_error(ec.value(), fmt::format("{} {}", role, path));
    return canonical.string();
}

bool is_inside(const stdfs::path& path, const std::string& dir) {
    std::string p = path.string();
    return p == dir ||
           (p.size() > dir.size() && p.compare(0, dir.size(), dir) == 0 && (dir == "/" || p[dir.size()] == '/'));
}

Status check_cache(const MountOptions& options, const std::string& cache) {
    std::error_code ec;
    stdfs::path resolved = stdfs::weakly_canonical(cache, ec);
    if (ec) return sys_error(ec.value(), fmt::format("cache {}", cache));
    if (is_inside(resolved, options.mountpoint)) {
        return make_error(Errc::invalid, fmt::format("cache {} lies inside the mount point {}; put it elsewhere", cache,
                                                     options.mountpoint));
    }
    struct stat st;
    if (::stat(cache.c_str(), &st) == 0) {
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
            return make_error(Errc::invalid,
                              fmt::format("cache {} is neither a block device nor a regular file", cache));
        }
        return ok();
    }
    if (errno != ENOENT) return sys_error(errno, fmt::format("cache {}", cache));
    if (!options.cache_size) {
        return Error{Errc::not_found, ENOENT,
                     fmt::format("cache {} does not exist (add cache_size=SIZE to create a cache file there)", cache)};
    }
    stdfs::path parent = resolved.parent_path();
    if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return make_error(Errc::invalid, fmt::format("cannot create cache file {}: directory {} does not exist", cache,
                                                     parent.string()));
    }
    return ok();
}

}  // namespace

std::string unescape_mountinfo_field(std::string_view field) {
    auto octal = [](char c) { return c >= '0' && c <= '7'; };
    std::string out;
    for (std::size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size() && octal(field[i + 1]) && octal(field[i + 2]) &&
            octal(field[i + 3])) {
            out.push_back(
                static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0')));
            i += 3;
        } else {
            out.push_back(field[i]);
        }
    }
    return out;
}

Result<bool> is_mounted_as(std::string_view mountpoint, std::string_view fs_type) {
    std::ifstream in("/proc/self/mountinfo");
    if (!in) return sys_error(errno, "/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::vector<std::string> parts;
        std::string part;
        while (fields >> part) parts.push_back(part);
        // id parent major:minor root MOUNTPOINT options [optional...] - TYPE source super
        if (parts.size() < 7) continue;
        std::size_t sep = 6;
        while (sep < parts.size() && parts[sep] != "-") ++sep;
        if (sep + 1 >= parts.size()) continue;
        if (parts[sep + 1] == fs_type && unescape_mountinfo_field(parts[4]) == mountpoint) return true;
    }
    return false;
}

Status check_mount_environment(MountOptions& options) {
    auto source = canonical_dir(options.source, "source");
    if (!source) return source.error();
    auto mountpoint = canonical_dir(options.mountpoint, "mount point");
    if (!mountpoint) return mountpoint.error();

    auto mounted = is_mounted_as(mountpoint.value(), options.fs_type());
    if (!mounted) return mounted.error();
    if (mounted.value()) {
        return make_error(Errc::busy, fmt::format("{0} is already a {1} mount (check with 'findmnt {0}'; "
                                                  "unmount it with 'umount {0}')",
                                                  mountpoint.value(), options.fs_type()));
    }
    options.source = source.value();
    options.mountpoint = mountpoint.value();

    for (const std::string& cache : options.cache_paths) BCL_TRY(check_cache(options, cache));

    if (options.index) {
        struct stat st;
        if (::stat(options.index->c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
            return make_error(Errc::invalid, fmt::format("index {} is not a directory", *options.index));
        }
    }
    return ok();
}

}  // namespace bcl
