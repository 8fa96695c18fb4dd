#include "bcachefs_lite/fs/mount_options.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <system_error>

#include "bcachefs_lite/device/superblock.h"
#include "bcachefs_lite/util/size.h"
#include "option_values.h"
#include "io_error_values.h"
#include "pin_values.h"
#include "moving_gc_values.h"
#include "promotion_values.h"
#include "bypass_values.h"

namespace bcl {
namespace {

constexpr std::string_view kUsage = "usage: bcachefs-lite SOURCE MOUNTPOINT -o cache=PATH[,OPTION...] [-f] [-d]";


Result<double> parse_seconds(std::string_view name, std::string_view text) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < 0 ||
        value > 1e9) {
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for {}: expected a number of seconds, 0 or more", text, name));
    }
    return value;
}

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
        return make_error(Errc::invalid,
                          fmt::format("cache= names {} devices; a cache set has at most {}", paths.size(), kMaxSetDevices));
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
    if (!size) return make_error(Errc::invalid, fmt::format("invalid value '{}' for cache_size: expected a size such as 512M or 8G", v));
    if (size.value() == 0) return make_error(Errc::invalid, "cache_size must be larger than 0");
    o.cache_size = size.value();
    return ok();
}

Status apply_index(MountOptions& o, std::string_view v) {
    if (v.empty()) return make_error(Errc::invalid, "index= needs the path of a directory");
    o.index = std::string(v);
    return ok();
}

Status apply_mode(MountOptions& o, std::string_view v) {
    auto mode = parse_cache_mode(v);
    if (!mode) {
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for mode: expected writethrough, writeback, "
                                                     "writearound or none",
                                                     v));
    }
    o.mode = *mode;
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
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for replacement: expected lru, fifo or random", v));
    }
    return ok();
}

Status apply_identity(MountOptions& o, std::string_view v) {
    if (v == "auto") {
        o.identity = IdentityOption::automatic;
    } else if (v == "inode") {
        o.identity = IdentityOption::inode;
    } else if (v == "path") {
        o.identity = IdentityOption::path;
    } else {
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for identity: expected auto, inode or path", v));
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
    auto value = parse_seconds("entry_timeout", v);
    if (!value) return value.error();
    o.entry_timeout = value.value();
    return ok();
}

Status apply_attr_timeout(MountOptions& o, std::string_view v) {
    auto value = parse_seconds("attr_timeout", v);
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

// A writeback tunable's option: its text parser, applied to o.writeback.
template <Status (*Parse)(WritebackTunables&, std::string_view)>
Status apply_tunable(MountOptions& o, std::string_view v) {
    return Parse(o.writeback, v);
}

// A promotion tunable's option, applied to o.promotion.
template <Status (*Parse)(PromotionTunables&, std::string_view)>
Status apply_promotion(MountOptions& o, std::string_view v) {
    return Parse(o.promotion, v);
}

// A cache device error tunable's option, applied to o.io_errors.
template <Status (*Parse)(IoErrorTunables&, std::string_view)>
Status apply_io_error(MountOptions& o, std::string_view v) {
    return Parse(o.io_errors, v);
}

// A moving GC tunable's option, applied to o.moving_gc.
template <Status (*Parse)(MovingGcTunables&, std::string_view)>
Status apply_moving_gc(MountOptions& o, std::string_view v) {
    return Parse(o.moving_gc, v);
}

// A bypass tunable's option, applied to o.bypass.
template <Status (*Parse)(BypassTunables&, std::string_view)>
Status apply_bypass(MountOptions& o, std::string_view v) {
    return Parse(o.bypass, v);
}

Status apply_pin_limit_percent(MountOptions& o, std::string_view v) {
    auto percent = parse_pin_limit_percent(v);
    if (!percent) return percent.error();
    o.pin_limit_percent = percent.value();
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
    {"mode", K::choice, "writethrough|writeback|writearound|none", "writethrough",
     "how writes use the cache: writethrough (to the backing file and the cache), writeback (to the cache, "
     "written back later), writearound (to the backing file; only reads fill the cache), none (the cache is "
     "not opened)",
     apply_mode},
    {"writeback_percent", K::number, "PERCENT", "10",
     "writeback aims to keep this much of the cache dirty, 0 to 40", apply_tunable<parse_writeback_percent>},
    {"writeback_delay", K::number, "SECONDS", "30",
     "how long new dirty data waits before writeback starts, in whole seconds (0 to 86400)",
     apply_tunable<parse_writeback_delay>},
    {"writeback_rate_minimum", K::size, "BYTES", "4096",
     "the slowest writeback runs while anything is dirty, in bytes per second (512 to 1G)",
     apply_tunable<parse_writeback_rate_minimum>},
    {"writeback_running", K::boolean, "BOOL", "yes",
     "write dirty data back at all (a flush runs regardless)", apply_tunable<parse_writeback_running>},
    {"cutoff_writeback", K::number, "PERCENT", "40",
     "above this much of the cache dirty, writes that are not synchronous go to the backing file",
     apply_tunable<parse_cutoff_writeback>},
    {"cutoff_writeback_sync", K::number, "PERCENT", "70",
     "above this much of the cache dirty, every write goes to the backing file (at least cutoff_writeback)",
     apply_tunable<parse_cutoff_writeback_sync>},
    {"promote", K::choice, "always|nhit", "always",
     "which read misses are cached: always (every one) or nhit (once the cache is promote_trigger_percent "
     "full, a range only after promote_hits misses)",
     apply_promotion<parse_promote>},
    {"promote_hits", K::number, "N", "2", "misses of a range, 2 to 255, before promote=nhit caches it",
     apply_promotion<parse_promote_hits>},
    {"promote_trigger_percent", K::number, "PERCENT", "80",
     "promote=nhit applies while at least this much of the cache is in use, 0 to 100",
     apply_promotion<parse_promote_trigger_percent>},
    {"io_error_limit", K::number, "N", "8",
     "errors of the cache device (decayed by io_error_halflife) that take the cache out of service: its dirty "
     "data is written back and everything else goes to the backing files; 0 on the first error",
     apply_io_error<parse_io_error_limit>},
    {"io_error_halflife", K::number, "IOS", "0",
     "cache device requests after which an error counts half (rounded down to a multiple of 88); 0: errors "
     "never decay",
     apply_io_error<parse_io_error_halflife>},
    {"sequential_cutoff", K::size, "SIZE", "4M",
     "I/O that continues a sequential run of this many bytes skips the cache (reads are not inserted, writes go "
     "to the backing file); 0: never",
     apply_bypass<parse_sequential_cutoff>},
    {"congested_read_threshold_us", K::number, "MICROSECONDS", "2000",
     "while cache device reads take longer than this on average, nothing new is inserted; 0: never",
     apply_bypass<parse_congested_read_threshold_us>},
    {"congested_write_threshold_us", K::number, "MICROSECONDS", "20000",
     "while cache device writes take longer than this on average, nothing new is inserted; 0: never",
     apply_bypass<parse_congested_write_threshold_us>},
    {"pin_limit_percent", K::number, "PERCENT", "50",
     "the most of the cache that pinned (never evicted) data may take, 0 to 100; pinning past it fails with "
     "ENOSPC",
     apply_pin_limit_percent},
    {"copy_gc_enabled", K::boolean, "BOOL", "yes",
     "when free buckets run low, copy the live data of the sparsest buckets together so those buckets can be "
     "reused without evicting it (moving GC)",
     apply_moving_gc<parse_copy_gc_enabled>},
    {"identity", K::choice, "auto|inode|path", "auto",
     "how a backing file is recognised again: inode (its inode number, which ext4, xfs and NFS keep), path (its "
     "path below SOURCE, for sshfs, rclone and other backings that renumber inodes; no writeback, no pinned "
     "directories), auto (path on a FUSE backing, else inode)",
     apply_identity},
    {"replacement", K::choice, "lru|fifo|random", "the device's", "which cached buckets are reused first",
     apply_replacement},
    {"discard", K::boolean, "BOOL", "the device's", "discard cache buckets before they are reused", apply_discard},
    {"entry_timeout", K::seconds, "SECONDS", "1.0",
     "how long the kernel may cache names; 0 shows changes made behind the cache's back at once",
     apply_entry_timeout},
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

const OptionSpec* find_option(std::string_view name) {
    for (const OptionSpec& spec : kOptions) {
        if (spec.name == name) return &spec;
    }
    if (name.starts_with("x-")) return find_option("x-*");
    return nullptr;
}

Status apply_option(std::string_view item, MountOptions& options) {
    std::size_t eq = item.find('=');
    std::string_view name = item.substr(0, eq);
    std::optional<std::string_view> value;
    if (eq != std::string_view::npos) value = item.substr(eq + 1);

    const OptionSpec* spec = find_option(name);
    if (!spec && name.starts_with("no") && !value) {
        // noBOOL for boolean options: nodiscard, nokernel_cache.
        const OptionSpec* positive = find_option(name.substr(2));
        if (positive && positive->kind == K::boolean) return positive->apply(options, "no");
    }
    if (!spec) return make_error(Errc::invalid, fmt::format("unknown option '{}' (see bcachefs-lite --help)", name));
    switch (spec->kind) {
    case K::ignored:
        return ok();
    case K::kernel_flag:
        if (value) return make_error(Errc::invalid, fmt::format("option {} takes no value", name));
        options.fuse_options.emplace_back(name);
        return ok();
    case K::boolean:
        return spec->apply(options, value.value_or(""));
    default:
        if (!value) return make_error(Errc::invalid, fmt::format("option {} needs a value: {}={}", name, name, spec->value_name));
        return spec->apply(options, *value);
    }
}

std::string escape_option_value(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == ',' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

}  // namespace

const char* replacement_policy_name(ReplacementPolicy policy) {
    switch (policy) {
    case ReplacementPolicy::lru: return "lru";
    case ReplacementPolicy::fifo: return "fifo";
    case ReplacementPolicy::random: return "random";
    }
    return "?";
}

const char* identity_option_name(IdentityOption option) {
    switch (option) {
    case IdentityOption::automatic: return "auto";
    case IdentityOption::inode: return "inode";
    case IdentityOption::path: return "path";
    }
    return "?";
}

std::string MountOptions::fs_type() const { return "fuse." + subtype.value_or("bcachefs-lite"); }

std::span<const OptionSpec> mount_option_table() { return kOptions; }

Status parse_option_list(std::string_view list, MountOptions& options) {
    std::string item;
    for (std::size_t i = 0; i <= list.size(); ++i) {
        if (i == list.size() || list[i] == ',') {
            if (!item.empty()) BCL_TRY(apply_option(item, options));
            item.clear();
        } else if (list[i] == '\\' && i + 1 < list.size()) {
            item.push_back(list[++i]);
        } else {
            item.push_back(list[i]);
        }
    }
    return ok();
}

Result<CommandLine> parse_command_line(std::span<const std::string_view> args) {
    CommandLine cmd;
    std::vector<std::string_view> positional;
    bool options_done = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
            positional.push_back(arg);
        } else if (arg == "--") {
            options_done = true;
        } else if (arg == "-h" || arg == "--help") {
            cmd.action = CommandAction::help;
            return cmd;
        } else if (arg == "-V" || arg == "--version") {
            cmd.action = CommandAction::version;
            return cmd;
        } else if (arg == "-f") {
            cmd.options.foreground = true;
        } else if (arg == "-d") {
            cmd.options.debug = true;
            cmd.options.foreground = true;
        } else if (arg == "-o") {
            if (i + 1 == args.size()) return make_error(Errc::invalid, "option -o needs an argument: -o OPTION[,OPTION...]");
            BCL_TRY(parse_option_list(args[++i], cmd.options));
        } else if (arg.starts_with("-o")) {
            BCL_TRY(parse_option_list(arg.substr(2), cmd.options));
        } else {
            return make_error(Errc::invalid, fmt::format("unknown command-line option '{}'; {}", arg, kUsage));
        }
    }
    if (positional.empty()) return make_error(Errc::invalid, fmt::format("missing SOURCE and MOUNTPOINT; {}", kUsage));
    if (positional.size() == 1) return make_error(Errc::invalid, fmt::format("missing MOUNTPOINT; {}", kUsage));
    if (positional.size() > 2) return make_error(Errc::invalid, fmt::format("unexpected argument '{}'; {}", positional[2], kUsage));
    cmd.options.source = positional[0];
    cmd.options.mountpoint = positional[1];
    if (cmd.options.cache.empty()) {
        return make_error(Errc::invalid, "missing required option cache=PATH (the cache device or file), e.g. -o cache=/dev/nvme0n1p3");
    }
    // The tunables are checked together: cutoff_writeback_sync may be given
    // after the cutoff_writeback it must not be below.
    if (auto valid = validate(cmd.options.writeback); !valid) return valid.error();
    if (auto valid = validate(cmd.options.promotion); !valid) return valid.error();
    if (auto valid = validate(cmd.options.bypass); !valid) return valid.error();
    return cmd;
}

std::string help_text(std::string_view program) {
    std::string out = fmt::format(
        "usage: {0} SOURCE MOUNTPOINT -o cache=PATH[,OPTION...] [-f] [-d]\n"
        "       mount -t fuse.bcachefs-lite SOURCE MOUNTPOINT -o cache=PATH[,OPTION...]\n"
        "\n"
        "Mounts the directory SOURCE on MOUNTPOINT with a cache device in front of it.\n"
        "\n"
        "  -f                   stay in the foreground and log to stderr\n"
        "  -d                   log every FUSE request (implies -f)\n"
        "  -o OPTION[,OPTION]   mount options, below; may be given more than once\n"
        "  -h, --help           print this help\n"
        "  -V, --version        print the version\n"
        "\n"
        "Mount options:\n",
        program);
    for (const OptionSpec& spec : kOptions) {
        if (spec.kind == K::ignored) continue;
        std::string left(spec.name);
        if (!spec.value_name.empty()) left += "=" + std::string(spec.value_name);
        // A long name gets its own line; descriptions start in column 25.
        if (left.size() > 22) {
            out += fmt::format("  {}\n{:25}{}", left, "", spec.description);
        } else {
            out += fmt::format("  {:<22} {}", left, spec.description);
        }
        if (spec.default_text == "required") {
            out += " (required)";
        } else if (!spec.default_text.empty()) {
            out += fmt::format(" (default: {})", spec.default_text);
        }
        out += "\n";
    }
    out += "\nAlso accepted and ignored, for fstab: defaults, auto, noauto, nofail, _netdev,\n"
           "user, users, nouser, comment=TEXT, x-*.\n";
    return out;
}

std::vector<std::string> fuse_mount_arguments(const MountOptions& options, std::string_view program,
                                              std::uint32_t max_read) {
    // default_permissions always: the kernel checks every request against
    // the attributes the daemon reports, also for what the cache serves
    // without asking the backing (SECURITY in bcachefs-lite(8)).
    std::string list = fmt::format("fsname={},subtype={},max_read={},default_permissions",
                                   escape_option_value(options.fsname.value_or(options.source)),
                                   escape_option_value(options.subtype.value_or("bcachefs-lite")), max_read);
    for (const std::string& opt : options.fuse_options)
        if (opt != "default_permissions") list += "," + opt;
    return {std::string(program), "-o", list};
}

}  // namespace bcl
