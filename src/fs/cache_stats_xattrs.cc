#include "bcachefs_lite/fs/cache_stats_xattrs.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "bcachefs_lite/fs/mount_options.h"
#include "os_error.h"

namespace bcl {

namespace {

constexpr std::string_view kAllStats = "stats";
constexpr std::string_view kRateDebug = "writeback_rate_debug";
constexpr std::string_view kCachedBytes = "cached_bytes";
constexpr std::string_view kDirtyBytes = "dirty_bytes";
constexpr std::string_view kPriorityStats = "priority_stats";
constexpr std::string_view kDevices = "devices";
constexpr std::string_view kPin = "pin";
constexpr std::string_view kPinned = "pinned";

constexpr std::string_view kIdentity = "identity";

// What a backing inode is, through its O_PATH descriptor, under the key the
// engine knows it by.
Result<struct statx> statx_of_fd(int fd, const FileKey& key) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0)
        return sys_error(errno, "statx of a backing file");
    return with_key(stx, key);
}

bool is_stat_name(std::string_view short_name) {
    const auto& names = stat_names();
    return std::find(names.begin(), names.end(), short_name) != names.end();
}

// Root's knobs: the mode and the tunables, as the options table names them.
bool is_knob(std::string_view short_name) { return find_knob(short_name) != nullptr; }

// Readable on this inode (and listed).
bool offered(std::string_view short_name, bool is_root) {
    if (is_root) {
        return short_name == kAllStats || short_name == kRateDebug || short_name == kCacheStateXattr ||
               short_name == kPriorityStats || short_name == kDevices || short_name == kIdentity ||
               is_stat_name(short_name) || is_knob(short_name);
    }
    return short_name == kCachedBytes || short_name == kDirtyBytes || short_name == kPin || short_name == kPinned;
}

bool known(std::string_view short_name) {
    return offered(short_name, true) || offered(short_name, false) || short_name == kFlushXattr;
}

std::string_view short_name_of(std::string_view name) { return name.substr(kStatsXattrPrefix.size()); }

// setfattr passes the value as given; `echo` into a tool may add a newline
// and C strings a NUL: neither is part of the value.
std::string_view trimmed(std::string_view value) {
    while (!value.empty() && (value.back() == '\n' || value.back() == '\0')) value.remove_suffix(1);
    return value;
}

std::string format_rate_debug(const WritebackStatus& s) {
    return fmt::format(
        "rate:         {} B/s\n"
        "dirty:        {} B\n"
        "target:       {} B\n"
        "proportional: {} B/s\n"
        "integral:     {} B/s\n"
        "running:      {}\n"
        "flushing:     {}\n",
        s.rate, s.dirty, s.target, s.proportional, s.integral, s.running ? "yes" : "no", s.flushing ? "yes" : "no");
}

}  // namespace

std::vector<std::string> CacheStatsXattrs::list(const FileKey&, bool is_root) {
    std::vector<std::string> out;
    const std::string prefix(kStatsXattrPrefix);
    if (is_root) {
        for (std::string_view n : stat_names()) out.push_back(prefix + std::string(n));
        out.push_back(prefix + std::string(kAllStats));
        for (const OptionSpec& spec : mount_option_table())
            if (spec.is_tunable()) out.push_back(prefix + std::string(spec.knob_name));
        out.push_back(prefix + std::string(kRateDebug));
        out.push_back(prefix + std::string(kCacheStateXattr));
        out.push_back(prefix + std::string(kPriorityStats));
        out.push_back(prefix + std::string(kDevices));
        out.push_back(prefix + std::string(kIdentity));
    } else {
        out.push_back(prefix + std::string(kCachedBytes));
        out.push_back(prefix + std::string(kDirtyBytes));
        out.push_back(prefix + std::string(kPin));
        out.push_back(prefix + std::string(kPinned));
    }
    return out;
}

Result<std::string> CacheStatsXattrs::get(const FileKey& key, int fd, bool is_root, std::string_view name) {
    const std::string_view n = short_name_of(name);
    if (!offered(n, is_root)) return os_error(ENODATA);
    if (n == kIdentity) return std::string(identity_name(identity_));
    if (n == kPin) {
        auto stx = statx_of_fd(fd, key);
        if (!stx) return os_error(EIO);
        auto pinned = cache_.pins().pinned(stx.value());
        if (!pinned) return os_error(EIO);
        return std::string(pinned.value() ? "1" : "0");
    }
    if (n == kPinned) {
        auto bytes = cache_.pins().pinned_bytes(key.dev, key.ino);
        if (!bytes) return os_error(EIO);
        return std::to_string(bytes.value());
    }
    if (n == kCachedBytes || n == kDirtyBytes) {
        auto bytes = n == kCachedBytes ? cache_.cached_bytes(key.dev, key.ino) : cache_.dirty_bytes(key.dev, key.ino);
        if (!bytes) return os_error(EIO);
        return std::to_string(bytes.value());
    }
    if (const OptionSpec* knob = find_knob(n)) return knob->format(cache_.tunables());
    if (n == kCacheStateXattr) return std::string(cache_state_name(cache_.state()));
    if (n == kPriorityStats) {
        auto prio = cache_.priority_stats();
        if (!prio) return prio.error();  // EAGAIN during a GC pass
        return format_priority_stats(prio.value());
    }
    if (n == kDevices) {
        auto devices = cache_.device_status();
        if (!devices) return devices.error();  // EAGAIN during a GC pass
        return format_device_status(devices.value());
    }
    if (n == kRateDebug) return format_rate_debug(cache_.writeback_status());
    const CacheStats stats = cache_.stats();
    if (n == kAllStats) return format_stats(stats);
    for (const auto& [stat, value] : stat_values(stats))
        if (stat == n) return std::to_string(value);
    return os_error(ENODATA);
}

Status CacheStatsXattrs::set(const FileKey& key, int fd, bool is_root, std::string_view name, std::string_view value,
                             uid_t caller_uid) {
    const std::string_view n = short_name_of(name);
    if (!known(n)) return os_error(EINVAL);
    if (!is_root && n == kPin) {
        if (caller_uid != 0) return os_error(EPERM);
        return set_pin(key, fd, trimmed(value));
    }
    if (is_root && n == kFlushXattr) {
        if (trimmed(value) != "1") return os_error(EINVAL);
        cache_.start_flush();
        return ok();
    }
    // Statistics, and names that belong to another kind of inode.
    if (!is_root || !is_knob(n)) return os_error(EPERM);
    if (caller_uid != 0) return os_error(EPERM);
    return set_knob(n, trimmed(value));
}

Status CacheStatsXattrs::set_pin(const FileKey& key, int fd, std::string_view value) {
    if (value != "1" && value != "0") return os_error(EINVAL);
    auto stx = statx_of_fd(fd, key);
    if (!stx) return stx.error();
    // The engine logs a refusal past the limit, naming the file.
    auto pinned = cache_.pins().set_pinned(fd, stx.value(), value == "1");
    if (!pinned && pinned.error().code == Errc::unsupported) log_.warn("pin refused: {}", pinned.error().message);
    return pinned;
}

void CacheStatsXattrs::created(const FileKey& parent_key, int parent_fd, const FileKey& child_key, int child_fd) {
    auto parent = statx_of_fd(parent_fd, parent_key);
    if (!parent) return;
    auto pinned = cache_.pins().pinned(parent.value());
    if (!pinned || !pinned.value()) return;
    auto child = statx_of_fd(child_fd, child_key);
    if (!child) return;
    const unsigned type = child.value().stx_mode & S_IFMT;
    if (type != S_IFREG && type != S_IFDIR) return;
    if (auto st = cache_.pins().inherit_pin(child_fd, child.value()); !st)
        log_.warn("a new file in a pinned directory stays unpinned: {}", st.error().message);
}

Status CacheStatsXattrs::set_knob(std::string_view n, std::string_view value) {
    const OptionSpec* knob = find_knob(n);
    if (!knob) return os_error(EINVAL);  // no knob of that name
    // One knob at a time: the others keep the values read here.
    std::lock_guard lk(tunables_mutex_);
    Tunables t = cache_.tunables();
    if (auto parsed = knob->parse(*knob, t, value); !parsed) return parsed.error();
    if (auto st = cache_.set_tunables(t); !st) {
        log_.warn("{}={} refused: {}", knob->knob_name, value, st.error().message);
        return st.error();
    }
    // As the engine keeps it (io_error_halflife is rounded down).
    log_.info("{} set to {}", knob->knob_name, knob->format(cache_.tunables()));
    return ok();
}

Status CacheStatsXattrs::remove(const FileKey&, bool, std::string_view name) {
    return os_error(known(short_name_of(name)) ? EPERM : ENODATA);
}

}  // namespace bcl
