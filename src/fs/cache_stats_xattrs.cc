#include "bcachefs_lite/fs/cache_stats_xattrs.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "bypass_values.h"
#include "io_error_values.h"
#include "moving_gc_values.h"
#include "option_values.h"
#include "os_error.h"
#include "pin_values.h"
#include "promotion_values.h"

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

// Root's knobs: the mode and the tunables.
bool is_knob(std::string_view short_name) {
    return short_name == kCacheModeXattr || find_writeback_tunable(short_name) != nullptr ||
           find_promotion_tunable(short_name) != nullptr || find_io_error_tunable(short_name) != nullptr ||
           find_bypass_tunable(short_name) != nullptr || find_moving_gc_tunable(short_name) != nullptr ||
           short_name == kPinLimitPercent;
}

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
        s.rate, s.dirty, s.target, s.proportional, s.integral, s.running ? "yes" : "no",
        s.flushing ? "yes" : "no");
}

}  // namespace

std::vector<std::string> CacheStatsXattrs::list(const FileKey&, bool is_root) {
    std::vector<std::string> out;
    const std::string prefix(kStatsXattrPrefix);
    if (is_root) {
        for (std::string_view n : stat_names()) out.push_back(prefix + std::string(n));
        out.push_back(prefix + std::string(kAllStats));
        out.push_back(prefix + std::string(kCacheModeXattr));
        for (const TunableText& t : writeback_tunable_texts()) out.push_back(prefix + std::string(t.name));
        for (const PromotionTunableText& t : promotion_tunable_texts()) out.push_back(prefix + std::string(t.name));
        for (const IoErrorTunableText& t : io_error_tunable_texts()) out.push_back(prefix + std::string(t.name));
        for (const BypassTunableText& t : bypass_tunable_texts()) out.push_back(prefix + std::string(t.name));
        out.push_back(prefix + std::string(kPinLimitPercent));
        for (const MovingGcTunableText& t : moving_gc_tunable_texts()) out.push_back(prefix + std::string(t.name));
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
        auto pinned = cache_.pinned(stx.value());
        if (!pinned) return os_error(EIO);
        return std::string(pinned.value() ? "1" : "0");
    }
    if (n == kPinned) {
        auto bytes = cache_.pinned_bytes(key.dev, key.ino);
        if (!bytes) return os_error(EIO);
        return std::to_string(bytes.value());
    }
    if (n == kPinLimitPercent) return std::to_string(cache_.pin_limit_percent());
    if (n == kCachedBytes || n == kDirtyBytes) {
        auto bytes = n == kCachedBytes ? cache_.cached_bytes(key.dev, key.ino) : cache_.dirty_bytes(key.dev, key.ino);
        if (!bytes) return os_error(EIO);
        return std::to_string(bytes.value());
    }
    if (n == kCacheModeXattr) return std::string(cache_mode_name(cache_.mode()));
    if (const TunableText* t = find_writeback_tunable(n)) return t->format(cache_.writeback_tunables());
    if (const PromotionTunableText* t = find_promotion_tunable(n)) return t->format(cache_.promotion_tunables());
    if (const IoErrorTunableText* t = find_io_error_tunable(n)) return t->format(cache_.io_error_tunables());
    if (const BypassTunableText* t = find_bypass_tunable(n)) return t->format(cache_.bypass_tunables());
    if (const MovingGcTunableText* t = find_moving_gc_tunable(n)) return t->format(cache_.moving_gc_tunables());
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
    auto pinned = cache_.set_pinned(fd, stx.value(), value == "1");
    if (!pinned && pinned.error().code == Errc::unsupported) log_.warn("pin refused: {}", pinned.error().message);
    return pinned;
}

void CacheStatsXattrs::created(const FileKey& parent_key, int parent_fd, const FileKey& child_key, int child_fd) {
    auto parent = statx_of_fd(parent_fd, parent_key);
    if (!parent) return;
    auto pinned = cache_.pinned(parent.value());
    if (!pinned || !pinned.value()) return;
    auto child = statx_of_fd(child_fd, child_key);
    if (!child) return;
    const unsigned type = child.value().stx_mode & S_IFMT;
    if (type != S_IFREG && type != S_IFDIR) return;
    if (auto st = cache_.inherit_pin(child_fd, child.value()); !st)
        log_.warn("a new file in a pinned directory stays unpinned: {}", st.error().message);
}

Status CacheStatsXattrs::set_knob(std::string_view n, std::string_view value) {
    if (n == kPinLimitPercent) {
        auto percent = parse_pin_limit_percent(value);
        if (!percent) return percent.error();
        if (auto st = cache_.set_pin_limit_percent(percent.value()); !st) return st.error();
        log_.info("{} set to {}", kPinLimitPercent, percent.value());
        return ok();
    }
    if (n == kCacheModeXattr) {
        auto mode = parse_cache_mode(value);
        if (!mode) return os_error(EINVAL);
        // The engine logs the change.
        if (auto st = cache_.set_mode(*mode); !st) {
            log_.warn("cache_mode={} refused: {}", cache_mode_name(*mode), st.error().message);
            return st.error();
        }
        return ok();
    }
    if (const PromotionTunableText* promotion = find_promotion_tunable(n)) {
        std::lock_guard lk(tunables_mutex_);
        PromotionTunables t = cache_.promotion_tunables();
        if (auto parsed = promotion->parse(t, value); !parsed) return parsed.error();
        if (auto st = cache_.set_promotion_tunables(t); !st) return st.error();
        log_.info("{} set to {}", promotion->name, promotion->format(t));
        return ok();
    }
    if (const IoErrorTunableText* io_error = find_io_error_tunable(n)) {
        std::lock_guard lk(tunables_mutex_);
        IoErrorTunables t = cache_.io_error_tunables();
        if (auto parsed = io_error->parse(t, value); !parsed) return parsed.error();
        cache_.set_io_error_tunables(t);
        log_.info("{} set to {}", io_error->name, io_error->format(t));
        return ok();
    }
    if (const BypassTunableText* bypass = find_bypass_tunable(n)) {
        std::lock_guard lk(tunables_mutex_);
        BypassTunables t = cache_.bypass_tunables();
        if (auto parsed = bypass->parse(t, value); !parsed) return parsed.error();
        if (auto st = cache_.set_bypass_tunables(t); !st) return st.error();
        log_.info("{} set to {}", bypass->name, bypass->format(t));
        return ok();
    }
    if (const MovingGcTunableText* moving_gc = find_moving_gc_tunable(n)) {
        std::lock_guard lk(tunables_mutex_);
        MovingGcTunables t = cache_.moving_gc_tunables();
        if (auto parsed = moving_gc->parse(t, value); !parsed) return parsed.error();
        cache_.set_moving_gc_tunables(t);
        log_.info("{} set to {}", moving_gc->name, moving_gc->format(t));
        return ok();
    }
    const TunableText* tunable = find_writeback_tunable(n);
    if (!tunable) return os_error(EINVAL);  // no knob of that name
    std::lock_guard lk(tunables_mutex_);
    WritebackTunables t = cache_.writeback_tunables();
    if (auto parsed = tunable->parse(t, value); !parsed) return parsed.error();
    if (auto st = cache_.set_writeback_tunables(t); !st) return st.error();
    log_.info("{} set to {}", tunable->name, tunable->format(t));
    return ok();
}

Status CacheStatsXattrs::remove(const FileKey&, bool, std::string_view name) {
    return os_error(known(short_name_of(name)) ? EPERM : ENODATA);
}

}  // namespace bcl
