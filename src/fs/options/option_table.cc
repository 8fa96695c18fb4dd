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

Status apply_cache(const OptionSpec&, MountOptions& o, std::string_view v) {
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

Status apply_replicas(const OptionSpec&, MountOptions& o, std::string_view v) {
    if (v != "1" && v != "2")
        return make_error(Errc::invalid, fmt::format("invalid value '{}' for replicas: expected 1 or 2", v));
    o.replicas = v == "1" ? 1 : 2;
    return ok();
}

Status apply_cache_size(const OptionSpec&, MountOptions& o, std::string_view v) {
    auto size = parse_size(v, "cache_size");
    if (!size)
        return make_error(Errc::invalid,
                          fmt::format("invalid value '{}' for cache_size: expected a size such as 512M or 8G", v));
    if (size.value() == 0) return make_error(Errc::invalid, "cache_size must be larger than 0");
    o.cache_size = size.value();
    return ok();
}

using K = OptionKind;

// The rows of the three other kinds (tunable_text.h makes the tunables').
constexpr OptionSpec mount_option(std::string_view name, OptionKind kind, std::string_view value_name,
                                  std::string_view default_text, std::string_view description,
                                  Status (*apply)(const OptionSpec&, MountOptions&, std::string_view),
                                  std::string_view man = {}) {
    return OptionSpec{.name = name,
                      .kind = kind,
                      .value_name = value_name,
                      .default_text = default_text,
                      .description = description,
                      .apply = apply,
                      .man = man};
}

constexpr OptionSpec kernel_flag(std::string_view name, std::string_view default_text, std::string_view description,
                                 std::string_view man = {}) {
    return OptionSpec{
        .name = name, .kind = K::kernel_flag, .default_text = default_text, .description = description, .man = man};
}

constexpr OptionSpec ignored_option(std::string_view name, std::string_view value_name, std::string_view description) {
    return OptionSpec{.name = name, .kind = K::ignored, .value_name = value_name, .description = description};
}

const OptionSpec kOptions[] = {
    mount_option("cache", K::path, "PATH[:PATH...]", "required",
                 "the cache device or file, or the devices of one cache set (made by bcachefs-lite-ctl format DEV "
                 "DEV...)",
                 apply_cache,
                 "The cache device (a block device) or cache file; or every device of one cache set (made by "
                 "*bcachefs-lite-ctl format* with several devices), separated by *:*, in any order. Devices of "
                 "different sets, a missing member (unless *degraded*), the same device twice, and a set of several "
                 "devices with *cache_size=* are refused."),
    mount_option("replicas", K::number, "1|2", "1",
                 "copies of dirty data, each on another device of the cache set; clean data keeps one", apply_replicas,
                 "Copies of dirty data, 1 or 2, each in a bucket of another device of the cache set; a write is "
                 "acknowledged once every copy is written. Clean data keeps one copy. When a device fails, dirty data "
                 "is written back from the copy on a device still working. More than the set's devices is refused."),
    mount_option("degraded", K::boolean, "BOOL", "no",
                 "mount a cache set with devices missing: the cache is out of service from the start, the dirty data "
                 "the devices given hold is written back, dirty data only a missing device holds reads as EIO",
                 MountFieldText<&MountOptions::degraded>::apply,
                 "Mount a cache set with devices missing (at least one given): they count as failed from the start, so "
                 "the cache opens out of service (state *failing*), writes back every dirty extent that has a copy on "
                 "a device given, then goes to *passthrough*. Dirty data whose only copy was on a missing device stays "
                 "dirty and reads of it fail with EIO; a missing device is never read, written, flushed or discarded, "
                 "and a later mount with every device back works as before. With every device present it changes "
                 "nothing."),
    mount_option("cache_size", K::size, "SIZE", "none (the cache must exist)",
                 "create and format a cache file of this size when cache= does not exist", apply_cache_size,
                 "When {PATH} does not exist, create and format a cache file of this size there (sizes take binary "
                 "suffixes: 512M, 8G, 1T)."),
    mount_option("index", K::path, "DIR", "/var/lib/bcachefs-lite/<cache UUID>",
                 "directory of the cache's RocksDB index", MountFieldText<&MountOptions::index>::apply,
                 "Directory of the cache's RocksDB index; for a cache set of several devices, the default names the "
                 "set's UUID. An index that cannot be opened, or whose entries do not decode, is refused with an error "
                 "naming *bcachefs-lite-ctl fsck*. A missing index means a cold cache (the mount says so and starts "
                 "empty), unless the cache's superblock says it may hold dirty data: that data can only be found "
                 "through its index, so the mount is refused until the index is back (or the cache is formatted anew, "
                 "giving the data up)."),
    mount_option("identity", K::choice, "auto|inode|path", "auto",
                 "how a backing file is recognised again: inode (its inode number, which ext4, xfs and NFS keep), "
                 "path (its path below SOURCE, for sshfs, rclone and other backings that renumber inodes; no "
                 "writeback, no pinned directories), auto (path on a FUSE backing, else inode)",
                 MountFieldText<&MountOptions::identity>::apply,
                 "How a backing file is recognised again, at the next open and after a restart, so that its cached "
                 "data is used: *inode* by its inode number (right where inode numbers last: ext4, xfs, NFS), *path* "
                 "by its path below {SOURCE} (for sshfs, rclone and other backings that give a file a new inode "
                 "number when the kernel forgets it), *auto* path on a FUSE backing and inode elsewhere, and inode "
                 "whatever the backing with *mode=writeback*. The choice and why is logged at mount; see *FILE "
                 "IDENTITY*."),
    mount_option("replacement", K::choice, "lru|fifo|random", "the device's", "which cached buckets are reused first",
                 MountFieldText<&MountOptions::replacement>::apply),
    mount_option("discard", K::boolean, "BOOL", "the device's", "discard cache buckets before they are reused",
                 MountFieldText<&MountOptions::discard>::apply,
                 "Discard cache buckets before they are reused, as bcache does: a bucket is discarded on its way from "
                 "the allocator's free_inc list to the freelists, with BLKDISCARD on a block device and a punched hole "
                 "in a cache file (a sparse cache file gives the blocks of reused buckets back until they are written "
                 "again). Without discard, a bucket waiting on the freelists still serves the data it held until it is "
                 "written again; with it, that data is no longer read from the moment of the discard; *nodiscard* "
                 "turns it off. A device that cannot discard is used all the same."),
    tunable_option<&Tunables::actimeo>(
        "actimeo", K::seconds, "SECONDS", "3",
        "how long what SOURCE showed (a file's size and times, a name, a listing) is trusted without another "
        "call: warm lookups, stats, listings and reads make none (0: check before every open and read)",
        {},
        "How long what {SOURCE} showed is trusted without another call, as NFS trusts its attribute cache for "
        "*actimeo* seconds: a file once checked (size, mtime, ctime), a name once looked up, a directory once "
        "listed to its end. Within that window a read of cached data, a stat, a lookup (also after the kernel "
        "forgot the inode) and a listing by a caller who listed the directory within it make no call on "
        "{SOURCE} at all, and a read-only open of a file this caller opened within the window does not open the "
        "file on {SOURCE} until a read needs data the cache does not hold. A change made to {SOURCE} behind the "
        "cache's back shows at most this long after the last check; never later, and after it the old data is "
        "never served. Changes through the mount show at once. 0 checks before every open and every read. Also "
        "the default of *entry_timeout* and *attr_timeout*, so the kernel's own caches of names and attributes "
        "last as long. Up to 86400."),
    tunable_option<&Tunables::backing_timeout>(
        "backing_timeout", K::seconds, "SECONDS", "30",
        "how long a call on SOURCE may take before SOURCE counts as not answering: while it hangs, cached "
        "files are served from memory and the rest fails with ETIMEDOUT (0: no limit)",
        {},
        "How long a call on {SOURCE} may take before {SOURCE} counts as not answering, as when the server of a "
        "network backing vanished without closing the connection (one warning is logged). While the call that "
        "hung is still in flight, names, attributes and listings are answered from memory and fully cached "
        "files are opened read-only and read from the cache without any call on {SOURCE}, and anything else "
        "fails at once with ETIMEDOUT, so hung calls cannot take every worker thread. The calls that reached "
        "{SOURCE} before the timeout return when it answers; the first success brings it back. 0 puts no "
        "limit. Up to 3600."),
    mount_option("entry_timeout", K::seconds, "SECONDS", "actimeo",
                 "how long the kernel may cache names; with actimeo=0, 0 shows changes made behind the cache's back "
                 "at once",
                 MountFieldText<&MountOptions::entry_timeout>::apply,
                 "How long the kernel may cache names (also the absence of a name). 0 makes the kernel ask the daemon "
                 "for every path lookup, which answers from what it remembers within *actimeo*; with *actimeo=0* "
                 "too, changes made to {SOURCE} behind the cache's back are visible at once."),
    mount_option("attr_timeout", K::seconds, "SECONDS", "actimeo",
                 "how long the kernel may cache attributes; with actimeo=0, 0 shows changes made behind the cache's "
                 "back at once",
                 MountFieldText<&MountOptions::attr_timeout>::apply,
                 "How long the kernel may cache attributes (size, times, mode). 0 makes the kernel ask the daemon, "
                 "which answers from what it read within *actimeo*; with *actimeo=0* too, changes made behind the "
                 "cache's back are visible at once."),
    mount_option("kernel_cache", K::boolean, "BOOL", "no",
                 "keep file pages in the kernel's page cache across opens (only when nothing changes the backing "
                 "files)",
                 MountFieldText<&MountOptions::kernel_cache>::apply,
                 "Keep file pages in the kernel's page cache across opens. Only safe when nothing changes the files of "
                 "{SOURCE} except through this mount."),
    mount_option("clone_fd", K::boolean, "BOOL", "no",
                 "give each FUSE worker thread a /dev/fuse descriptor of its own (for many cores)",
                 MountFieldText<&MountOptions::clone_fd>::apply,
                 "Give each FUSE worker thread a descriptor of /dev/fuse of its own, so that on many cores the "
                 "replies do not contend for one queue in the kernel. Off, as in libfuse: with two CPUs, 4 KiB "
                 "reads of cached data at queue depth 16 ran about 3% faster without it."),
    mount_option("allow_insecure_cache", K::boolean, "BOOL", "no",
                 "mount although users other than the daemon's may read or write the cache file or device or the index "
                 "directory (refused otherwise: they would read the cached data of every file)",
                 MountFieldText<&MountOptions::allow_insecure_cache>::apply,
                 "Mount although users other than the daemon's may read or write the cache file or device or the index "
                 "directory. Without it such a mount is refused, with one line naming the file and the command that "
                 "makes it private; see *SECURITY*."),
    tunable_option<&Tunables::mode>(
        "mode", K::choice, "writethrough|writeback|writearound|none", "writethrough",
        "how writes use the cache: writethrough (to the backing file and the cache), writeback (to the cache, "
        "written back later), writearound (to the backing file; only reads fill the cache), none (the cache "
        "is not opened)",
        "cache_mode",
        "How writes use the cache; see *CACHE MODES*. It can be changed while mounted (the knob "
        "*cache_mode*), except to or from a mount made with *mode=none*, which never opens the cache."),
    tunable_option<&Tunables::writeback, &WritebackTunables::writeback_percent>(
        "writeback_percent", K::number, "PERCENT", "10", "writeback aims to keep this much of the cache dirty, 0 to 40",
        {},
        "How much of the cache's data capacity writeback aims to keep dirty, 0 to 40. Below it, dirty data is "
        "written back at *writeback_rate_minimum* only, so that the cache keeps absorbing writes; 0 aims at a "
        "clean cache."),
    tunable_option<&Tunables::writeback, &WritebackTunables::writeback_delay>(
        "writeback_delay", K::number, "SECONDS", "30",
        "how long new dirty data waits before writeback starts, in whole seconds (0 to 86400)", {},
        "How long writeback waits, once a cache that held no dirty data receives some, before it starts; "
        "whole seconds, 0 to 86400."),
    tunable_option<&Tunables::writeback, &WritebackTunables::writeback_rate_minimum>(
        "writeback_rate_minimum", K::size, "BYTES", "4096",
        "the slowest writeback runs while anything is dirty, in bytes per second (512 to 1G)", {},
        "The slowest writeback runs while anything is dirty, in bytes per second, 512 to 1G; size suffixes "
        "are accepted (4K, 1G)."),
    tunable_option<&Tunables::writeback, &WritebackTunables::writeback_running>(
        "writeback_running", K::boolean, "BOOL", "yes", "write dirty data back at all (a flush runs regardless)", {},
        "Whether dirty data is written back at all; *nowriteback_running* stops it (a flush still runs)."),
    tunable_option<&Tunables::writeback, &WritebackTunables::cutoff_writeback>(
        "cutoff_writeback", K::number, "PERCENT", "40",
        "above this much of the cache dirty, writes that are not synchronous go to the backing file", {},
        "Above this much of the cache's capacity dirty, writes that are not synchronous go straight to the "
        "backing file instead of the cache; 1 to 100."),
    tunable_option<&Tunables::writeback, &WritebackTunables::cutoff_writeback_sync>(
        "cutoff_writeback_sync", K::number, "PERCENT", "70",
        "above this much of the cache dirty, every write goes to the backing file (at least cutoff_writeback)", {},
        "Above this much dirty, every write goes straight to the backing file; at least *cutoff_writeback*, "
        "at most 100."),
    tunable_option<&Tunables::promotion, &PromotionTunables::promote>(
        "promote", K::choice, "always|nhit", "always",
        "which read misses are cached: always (every one) or nhit (once the cache is promote_trigger_percent "
        "full, a range only after promote_hits misses)",
        {},
        "*always* caches every missed range, as bcache does. *nhit* (Open CAS's promotion policy of that "
        "name) caches a missed range only when it has been missed *promote_hits* times, while the cache is at "
        "least *promote_trigger_percent* full; below that, every miss is cached."),
    tunable_option<&Tunables::promotion, &PromotionTunables::promote_hits>(
        "promote_hits", K::number, "N", "2", "misses of a range, 2 to 255, before promote=nhit caches it", {},
        "How many times a range must be missed, the last miss included, before *promote=nhit* caches it; 2 to "
        "255."),
    tunable_option<&Tunables::promotion, &PromotionTunables::promote_trigger_percent>(
        "promote_trigger_percent", K::number, "PERCENT", "80",
        "promote=nhit applies while at least this much of the cache is in use, 0 to 100", {},
        "*promote=nhit* applies while at least this much of the cache is in use; 0 to 100 (0: always; 100: "
        "only when the cache holds all it can)."),
    tunable_option<&Tunables::bypass, &BypassTunables::sequential_cutoff>(
        "sequential_cutoff", K::size, "SIZE", "4M",
        "I/O that continues a sequential run of this many bytes skips the cache (reads are not inserted, "
        "writes go to the backing file); 0: never",
        {},
        "I/O that continues a sequential run of this many bytes skips the cache: reads are served (from the "
        "cache where it holds the data) but not inserted, writes go to {SOURCE} and drop the range from the "
        "cache, in every mode; 0: never. A run's requests may arrive out of order within a window (a quarter "
        "of the cutoff, at most 2M; see *CACHING*), and a sequential read inserts at most the cutoff plus that "
        "window. Below 4G; size suffixes as for *cache_size*."),
    tunable_option<&Tunables::bypass, &BypassTunables::congested_read_threshold_us>(
        "congested_read_threshold_us", K::number, "MICROSECONDS", "2000",
        "while cache device reads take longer than this on average, nothing new is inserted; 0: never", {},
        "While reads from the cache device take longer than this many microseconds on average, nothing new is "
        "inserted; 0: never."),
    tunable_option<&Tunables::bypass, &BypassTunables::congested_write_threshold_us>(
        "congested_write_threshold_us", K::number, "MICROSECONDS", "20000",
        "while cache device writes take longer than this on average, nothing new is inserted; 0: never", {},
        "The same for writes to the cache device."),
    tunable_option<&Tunables::pin_limit_percent>(
        "pin_limit_percent", K::number, "PERCENT", "50",
        "the most of the cache that pinned (never evicted) data may take, 0 to 100; pinning past it fails "
        "with ENOSPC",
        {},
        "The most of the cache that pinned data may take, 0 to 100; pinning a file whose size would pass it "
        "fails with ENOSPC."),
    tunable_option<&Tunables::moving_gc, &MovingGcTunables::copy_gc_enabled>(
        "copy_gc_enabled", K::boolean, "BOOL", "yes",
        "when free buckets run low, copy the live data of the sparsest buckets together so those buckets can "
        "be reused without evicting it (moving GC)",
        {},
        "When free buckets run low, copy the live data of the sparsest buckets together so that those buckets "
        "can be reused without evicting it; *nocopy_gc_enabled* turns it off."),
    tunable_option<&Tunables::io_errors, &IoErrorTunables::io_error_limit>(
        "io_error_limit", K::number, "N", "8",
        "errors of the cache device (decayed by io_error_halflife) that take the cache out of service: its "
        "dirty data is written back and everything else goes to the backing files; 0 on the first error",
        {},
        "Errors of the cache device, as decayed by *io_error_halflife*, that take the cache out of service; "
        "0: the first error does."),
    tunable_option<&Tunables::io_errors, &IoErrorTunables::io_error_halflife>(
        "io_error_halflife", K::number, "IOS", "0",
        "cache device requests after which an error counts half (rounded down to a multiple of 88); 0: errors "
        "never decay",
        {},
        "Cache device requests after which an error counts half, rounded down to a multiple of 88; 0 (or "
        "anything below 88): errors never decay."),
    mount_option("fsname", K::text, "NAME", "SOURCE", "the source shown in the mount table",
                 MountFieldText<&MountOptions::fsname>::apply, "The source shown in the mount table."),
    mount_option("subtype", K::text, "NAME", "bcachefs-lite", "the type shown in the mount table, after fuse.",
                 MountFieldText<&MountOptions::subtype>::apply,
                 "The type shown in the mount table, after the *fuse.* prefix."),
    kernel_flag("allow_other", "off", "let users other than the mounting one use the mount",
                "Let users other than the one who mounted use the file system. Each of them may do through the mount "
                "exactly what the backing directory lets them do; see *SECURITY*."),
    kernel_flag("default_permissions", "on, always",
                "the kernel checks every access against the file's mode, owner and group; always on, accepted for "
                "fstab lines that name it (see SECURITY in bcachefs-lite(8))",
                "The kernel checks every access against the file's mode, owner and group. Always on: the option is "
                "accepted for fstab lines that name it; see *SECURITY*."),
    kernel_flag("auto_unmount", "off", "unmount when the daemon exits",
                "Unmount when the daemon exits, even if killed."),
    kernel_flag("ro", "rw", "mount read-only"),
    kernel_flag("rw", "rw", "mount read-write"),
    kernel_flag("suid", "nosuid", "honour set-user-ID and set-group-ID bits"),
    kernel_flag("nosuid", "nosuid", "ignore set-user-ID and set-group-ID bits"),
    kernel_flag("dev", "nodev", "allow access to device nodes"),
    kernel_flag("nodev", "nodev", "deny access to device nodes"),
    kernel_flag("exec", "exec", "allow running programs"),
    kernel_flag("noexec", "exec", "deny running programs"),
    kernel_flag("atime", "relatime", "update access times on every access"),
    kernel_flag("noatime", "relatime", "never update access times"),
    kernel_flag("relatime", "relatime", "update access times relative to modification times"),
    kernel_flag("norelatime", "relatime", "turn relatime off"),
    kernel_flag("strictatime", "relatime", "always update access times"),
    kernel_flag("nostrictatime", "relatime", "turn strictatime off"),
    kernel_flag("diratime", "diratime", "update directory access times"),
    kernel_flag("nodiratime", "diratime", "never update directory access times"),
    kernel_flag("lazytime", "nolazytime", "keep time updates in memory only"),
    kernel_flag("nolazytime", "nolazytime", "turn lazytime off"),
    kernel_flag("sync", "async", "synchronous I/O"),
    kernel_flag("async", "async", "asynchronous I/O"),
    kernel_flag("dirsync", "off", "synchronous directory changes"),
    ignored_option("defaults", "", "fstab: accepted and ignored"),
    ignored_option("auto", "", "fstab: accepted and ignored (for mount -a)"),
    ignored_option("noauto", "", "fstab: accepted and ignored (for mount -a)"),
    ignored_option("nofail", "", "fstab: accepted and ignored (for mount and systemd)"),
    ignored_option("_netdev", "", "fstab: accepted and ignored (for systemd)"),
    ignored_option("user", "", "fstab: accepted and ignored (for mount)"),
    ignored_option("users", "", "fstab: accepted and ignored (for mount)"),
    ignored_option("nouser", "", "fstab: accepted and ignored (for mount)"),
    ignored_option("x-*", "", "fstab: options for other programs, accepted and ignored"),
    ignored_option("comment", "TEXT", "fstab: accepted and ignored"),
};

// The man page's groups of options, each from its first option on.
const OptionSection kSections[] = {
    {"Cache", "cache", ""},
    {"Writeback", "writeback_percent",
     "Named and defaulted as bcache's sysfs files; see *WRITEBACK*. They apply in every mode that opens the cache "
     "(dirty data an earlier writeback mount left is written back in any of them)."},
    {"Promotion", "promote", "Which read misses are written to the cache; see *CACHING*."},
    {"Bypass", "sequential_cutoff", "Which I/O skips the cache, as bcache decides it; see *CACHING*."},
    {"Pinning", "pin_limit_percent", "See *PINNING*."},
    {"Moving GC", "copy_gc_enabled", "See *CACHING*."},
    {"Cache device errors", "io_error_limit",
     "When a failing cache device is taken out of service; see *CACHE DEVICE ERRORS*."},
    {"Mount table", "fsname", ""},
    {"Passed to the kernel", "allow_other", ""},
    {"Accepted and ignored", "defaults", ""},
};

}  // namespace

std::span<const OptionSpec> mount_option_table() { return kOptions; }

std::span<const OptionSection> option_sections() { return kSections; }

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
