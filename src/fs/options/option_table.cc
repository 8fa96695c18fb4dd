// The options table: every mount option, and which of them are knobs of the
// mount root, with the functions that store their values. The tunables are
// rows of TunableText (tunable_text.h) and need no code of their own; the
// mount-only options store theirs into MountOptions with the apply_*
// functions here.
#include <fmt/format.h>

#include "bcachefs_lite/device/superblock.h"
#include "bcachefs_lite/fs/mount_options.h"
#include "bcachefs_lite/util/size.h"
#include "tunable_text.h"
#include "value_text.h"

namespace bcl {
namespace {

Status apply_cache(MountOptions& o, std::string_view v) {
    if (v.empty()) return make_error(Errc::invalid, "cache= needs the path of the cache device or file");
    std::vector<std::string> paths;
    for (std::size_t from = 0;;) {
        const std::size_t colon = v.find(':', from);
        const std::string_view part = v.substr(from, colon == std::string_view::npos ? colon : colon - from);
        if (part.empty())
            return make_error(Errc::invalid, fmt::format("invalid value '{}' for cache: an empty path between ':'", v));
        paths.emplace_back(part);
        if (colon == std::string_view::npos) break;
        from = colon + 1;
    }
    if (paths.size() > kMaxSetDevices)
        return make_error(Errc::invalid, fmt::format("cache= names {} devices; a cache set has at most {}",
                                                     paths.size(), kMaxSetDevices));
    o.cache = v;
    o.cache_paths = std::move(paths);
    return ok();
}

Status apply_replicas(MountOptions& o, std::string_view v) {
    if (v != "1" && v != "2")
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for replicas: expected 1 or 2", v));
    o.replicas = v == "1" ? 1 : 2;
    return ok();
}

Status apply_cache_size(MountOptions& o, std::string_view v) {
    auto size = parse_size(v, "cache_size");
    if (!size)
        return make_error(Errc::invalid,
                          fmt::format("invalid value '{}' for cache_size: expected a size such as 512M or 8G", v));
    if (size.value() == 0) return make_error(Errc::invalid, "cache_size must be larger than 0");
    o.cache_size = size.value();
    return ok();
}

Status apply_index(MountOptions& o, std::string_view v) {
    if (v.empty()) return make_error(Errc::invalid, "index= needs the path of a directory");
    o.index = std::string(v);
    return ok();
}

Status apply_replacement(MountOptions& o, std::string_view v) {
    if (v == "lru") {
        o.replacement = ReplacementPolicy::lru;
    } else if (v == "fifo") {
        o.replacement = ReplacementPolicy::fifo;
    } else if (v == "random") {
        o.replacement = ReplacementPolicy::random;
    } else {
        return make_error(Errc::invalid,
                          fmt::format("invalid value '{}' for replacement: expected lru, fifo or random", v));
    }
    return ok();
}

Status apply_discard(MountOptions& o, std::string_view v) {
    auto value = parse_bool_value("discard", v);
    if (!value) return value.error();
    o.discard = value.value();
    return ok();
}

Status apply_entry_timeout(MountOptions& o, std::string_view v) {
    auto value = parse_seconds_value("entry_timeout", v);
    if (!value) return value.error();
    o.entry_timeout = value.value();
    return ok();
}

Status apply_attr_timeout(MountOptions& o, std::string_view v) {
    auto value = parse_seconds_value("attr_timeout", v);
    if (!value) return value.error();
    o.attr_timeout = value.value();
    return ok();
}

Status apply_degraded(MountOptions& o, std::string_view v) {
    auto value = parse_bool_value("degraded", v);
    if (!value) return value.error();
    o.degraded = value.value();
    return ok();
}

Status apply_kernel_cache(MountOptions& o, std::string_view v) {
    auto value = parse_bool_value("kernel_cache", v);
    if (!value) return value.error();
    o.kernel_cache = value.value();
    return ok();
}

Status apply_allow_insecure_cache(MountOptions& o, std::string_view v) {
    auto value = parse_bool_value("allow_insecure_cache", v);
    if (!value) return value.error();
    o.allow_insecure_cache = value.value();
    return ok();
}

Status apply_fsname(MountOptions& o, std::string_view v) {
    if (v.empty()) return make_error(Errc::invalid, "fsname= needs a name");
    o.fsname = std::string(v);
    return ok();
}

Status apply_subtype(MountOptions& o, std::string_view v) {
    if (v.empty()) return make_error(Errc::invalid, "subtype= needs a name");
    o.subtype = std::string(v);
    return ok();
}

using K = OptionKind;

const OptionSpec kOptions[] = {
    {"cache", K::path, "PATH[:PATH...]", "required",
     "the cache device or file, or the devices of one cache set (made by bcachefs-lite-ctl format DEV DEV...)",
     apply_cache},
    {"replicas", K::number, "1|2", "1",
     "copies of dirty data, each on another device of the cache set; clean data keeps one", apply_replicas},
    {"degraded", K::boolean, "BOOL", "no",
     "mount a cache set with devices missing: the cache is out of service from the start, the dirty data the "
     "devices given hold is written back, dirty data only a missing device holds reads as EIO",
     apply_degraded},
    {"cache_size", K::size, "SIZE", "none (the cache must exist)",
     "create and format a cache file of this size when cache= does not exist", apply_cache_size},
    {"index", K::path, "DIR", "/var/lib/bcachefs-lite/<cache UUID>", "directory of the cache's RocksDB index",
     apply_index},
    tunable_option<&Tunables::mode>(
        "mode", K::choice, "writethrough|writeback|writearound|none", "writethrough",
        "how writes use the cache: writethrough (to the backing file and the cache), writeback (to the cache, "
        "written back later), writearound (to the backing file; only reads fill the cache), none (the cache is "
        "not opened)",
        "cache_mode"),
    tunable_option<&Tunables::writeback, &WritebackTunables::writeback_percent>(
        "writeback_percent", K::number, "PERCENT", "10",
        "writeback aims to keep this much of the cache dirty, 0 to 40"),
    tunable_option<&Tunables::writeback, &WritebackTunables::writeback_delay>(
        "writeback_delay", K::number, "SECONDS", "30",
        "how long new dirty data waits before writeback starts, in whole seconds (0 to 86400)"),
    tunable_option<&Tunables::writeback, &WritebackTunables::writeback_rate_minimum>(
        "writeback_rate_minimum", K::size, "BYTES", "4096",
        "the slowest writeback runs while anything is dirty, in bytes per second (512 to 1G)"),
    tunable_option<&Tunables::writeback, &WritebackTunables::writeback_running>(
        "writeback_running", K::boolean, "BOOL", "yes", "write dirty data back at all (a flush runs regardless)"),
    tunable_option<&Tunables::writeback, &WritebackTunables::cutoff_writeback>(
        "cutoff_writeback", K::number, "PERCENT", "40",
        "above this much of the cache dirty, writes that are not synchronous go to the backing file"),
    tunable_option<&Tunables::writeback, &WritebackTunables::cutoff_writeback_sync>(
        "cutoff_writeback_sync", K::number, "PERCENT", "70",
        "above this much of the cache dirty, every write goes to the backing file (at least cutoff_writeback)"),
    tunable_option<&Tunables::promotion, &PromotionTunables::promote>(
        "promote", K::choice, "always|nhit", "always",
        "which read misses are cached: always (every one) or nhit (once the cache is promote_trigger_percent "
        "full, a range only after promote_hits misses)"),
    tunable_option<&Tunables::promotion, &PromotionTunables::promote_hits>(
        "promote_hits", K::number, "N", "2", "misses of a range, 2 to 255, before promote=nhit caches it"),
    tunable_option<&Tunables::promotion, &PromotionTunables::promote_trigger_percent>(
        "promote_trigger_percent", K::number, "PERCENT", "80",
        "promote=nhit applies while at least this much of the cache is in use, 0 to 100"),
    tunable_option<&Tunables::io_errors, &IoErrorTunables::io_error_limit>(
        "io_error_limit", K::number, "N", "8",
        "errors of the cache device (decayed by io_error_halflife) that take the cache out of service: its dirty "
        "data is written back and everything else goes to the backing files; 0 on the first error"),
    tunable_option<&Tunables::io_errors, &IoErrorTunables::io_error_halflife>(
        "io_error_halflife", K::number, "IOS", "0",
        "cache device requests after which an error counts half (rounded down to a multiple of 88); 0: errors "
        "never decay"),
    tunable_option<&Tunables::bypass, &BypassTunables::sequential_cutoff>(
        "sequential_cutoff", K::size, "SIZE", "4M",
        "I/O that continues a sequential run of this many bytes skips the cache (reads are not inserted, writes go "
        "to the backing file); 0: never"),
    tunable_option<&Tunables::bypass, &BypassTunables::congested_read_threshold_us>(
        "congested_read_threshold_us", K::number, "MICROSECONDS", "2000",
        "while cache device reads take longer than this on average, nothing new is inserted; 0: never"),
    tunable_option<&Tunables::bypass, &BypassTunables::congested_write_threshold_us>(
        "congested_write_threshold_us", K::number, "MICROSECONDS", "20000",
        "while cache device writes take longer than this on average, nothing new is inserted; 0: never"),
    tunable_option<&Tunables::pin_limit_percent>(
        "pin_limit_percent", K::number, "PERCENT", "50",
        "the most of the cache that pinned (never evicted) data may take, 0 to 100; pinning past it fails with "
        "ENOSPC"),
    tunable_option<&Tunables::moving_gc, &MovingGcTunables::copy_gc_enabled>(
        "copy_gc_enabled", K::boolean, "BOOL", "yes",
        "when free buckets run low, copy the live data of the sparsest buckets together so those buckets can be "
        "reused without evicting it (moving GC)"),
    {"replacement", K::choice, "lru|fifo|random", "the device's", "which cached buckets are reused first",
     apply_replacement},
    {"discard", K::boolean, "BOOL", "the device's", "discard cache buckets before they are reused", apply_discard},
    {"entry_timeout", K::seconds, "SECONDS", "1.0",
     "how long the kernel may cache names; 0 shows changes made behind the cache's back at once", apply_entry_timeout},
    {"attr_timeout", K::seconds, "SECONDS", "1.0",
     "how long the kernel may cache attributes; 0 shows changes made behind the cache's back at once",
     apply_attr_timeout},
    {"kernel_cache", K::boolean, "BOOL", "no",
     "keep file pages in the kernel's page cache across opens (only when nothing changes the backing files)",
     apply_kernel_cache},
    {"allow_insecure_cache", K::boolean, "BOOL", "no",
     "mount although users other than the daemon's may read or write the cache file or device or the index "
     "directory (refused otherwise: they would read the cached data of every file)",
     apply_allow_insecure_cache},
    {"fsname", K::text, "NAME", "SOURCE", "the source shown in the mount table", apply_fsname},
    {"subtype", K::text, "NAME", "bcachefs-lite", "the type shown in the mount table, after fuse.", apply_subtype},
    {"allow_other", K::kernel_flag, "", "off", "let users other than the mounting one use the mount", nullptr},
    {"default_permissions", K::kernel_flag, "", "on, always",
     "the kernel checks every access against the file's mode, owner and group; always on, accepted for "
     "fstab lines that name it (see SECURITY in bcachefs-lite(8))",
     nullptr},
    {"auto_unmount", K::kernel_flag, "", "off", "unmount when the daemon exits", nullptr},
    {"ro", K::kernel_flag, "", "rw", "mount read-only", nullptr},
    {"rw", K::kernel_flag, "", "rw", "mount read-write", nullptr},
    {"suid", K::kernel_flag, "", "nosuid", "honour set-user-ID and set-group-ID bits", nullptr},
    {"nosuid", K::kernel_flag, "", "nosuid", "ignore set-user-ID and set-group-ID bits", nullptr},
    {"dev", K::kernel_flag, "", "nodev", "allow access to device nodes", nullptr},
    {"nodev", K::kernel_flag, "", "nodev", "deny access to device nodes", nullptr},
    {"exec", K::kernel_flag, "", "exec", "allow running programs", nullptr},
    {"noexec", K::kernel_flag, "", "exec", "deny running programs", nullptr},
    {"atime", K::kernel_flag, "", "relatime", "update access times on every access", nullptr},
    {"noatime", K::kernel_flag, "", "relatime", "never update access times", nullptr},
    {"relatime", K::kernel_flag, "", "relatime", "update access times relative to modification times", nullptr},
    {"norelatime", K::kernel_flag, "", "relatime", "turn relatime off", nullptr},
    {"strictatime", K::kernel_flag, "", "relatime", "always update access times", nullptr},
    {"nostrictatime", K::kernel_flag, "", "relatime", "turn strictatime off", nullptr},
    {"diratime", K::kernel_flag, "", "diratime", "update directory access times", nullptr},
    {"nodiratime", K::kernel_flag, "", "diratime", "never update directory access times", nullptr},
    {"lazytime", K::kernel_flag, "", "nolazytime", "keep time updates in memory only", nullptr},
    {"nolazytime", K::kernel_flag, "", "nolazytime", "turn lazytime off", nullptr},
    {"sync", K::kernel_flag, "", "async", "synchronous I/O", nullptr},
    {"async", K::kernel_flag, "", "async", "asynchronous I/O", nullptr},
    {"dirsync", K::kernel_flag, "", "off", "synchronous directory changes", nullptr},
    {"defaults", K::ignored, "", "", "fstab: accepted and ignored", nullptr},
    {"auto", K::ignored, "", "", "fstab: accepted and ignored (for mount -a)", nullptr},
    {"noauto", K::ignored, "", "", "fstab: accepted and ignored (for mount -a)", nullptr},
    {"nofail", K::ignored, "", "", "fstab: accepted and ignored (for mount and systemd)", nullptr},
    {"_netdev", K::ignored, "", "", "fstab: accepted and ignored (for systemd)", nullptr},
    {"user", K::ignored, "", "", "fstab: accepted and ignored (for mount)", nullptr},
    {"users", K::ignored, "", "", "fstab: accepted and ignored (for mount)", nullptr},
    {"nouser", K::ignored, "", "", "fstab: accepted and ignored (for mount)", nullptr},
    {"x-*", K::ignored, "", "", "fstab: options for other programs, accepted and ignored", nullptr},
    {"comment", K::ignored, "TEXT", "", "fstab: accepted and ignored", nullptr},
};

}  // namespace

std::span<const OptionSpec> mount_option_table() { return kOptions; }

const OptionSpec* find_option(std::string_view name) {
    for (const OptionSpec& spec : kOptions) {
        if (spec.name == name) return &spec;
    }
    if (name.starts_with("x-")) return find_option("x-*");
    return nullptr;
}

const OptionSpec* find_knob(std::string_view knob_name) {
    for (const OptionSpec& spec : kOptions) {
        if (!spec.knob_name.empty() && spec.knob_name == knob_name) return &spec;
    }
    return nullptr;
}

}  // namespace bcl
