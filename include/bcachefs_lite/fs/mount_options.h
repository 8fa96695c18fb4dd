// Mount options of the bcachefs-lite daemon: one table (mount_option_table)
// names every option, its value, its default and what it does. That table
// drives parsing, `bcachefs-lite --help`, and is what the man page lists.
//
// The daemon is started exactly as mount(8) starts FUSE helpers:
//
//     bcachefs-lite SOURCE MOUNTPOINT [-f] [-d] -o cache=DEV[,OPTION...]
//
// parse_command_line() turns that into a MountOptions value without looking at
// the file system; check_mount_environment() (mount_checks.h) then checks the
// paths it names.
//
// Thread safety: plain values and pure functions; the table is immutable.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/cache/cache_mode.h"
#include "bcachefs_lite/cache/moving_gc_tunables.h"
#include "bcachefs_lite/cache/promotion_tunables.h"
#include "bcachefs_lite/cache/sequential.h"
#include "bcachefs_lite/cache/writeback_tunables.h"
#include "bcachefs_lite/device/io_error_counter.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

enum class ReplacementPolicy { lru, fifo, random };

const char* replacement_policy_name(ReplacementPolicy policy);

// identity=: how the mount recognises a backing file again (identity.h).
enum class IdentityOption { automatic, inode, path };

const char* identity_option_name(IdentityOption option);

struct MountOptions {
    // The backing directory (SOURCE) and where to mount it (MOUNTPOINT), as
    // given; check_mount_environment() makes them absolute.
    std::string source;
    std::string mountpoint;

    // -f: stay in the foreground, log to stderr. Default: false (detach once
    // the mount is established and log to syslog).
    bool foreground = false;
    // -d: log every FUSE request; implies foreground. Default: false.
    bool debug = false;

    // cache=PATH[:PATH...]: the cache device or file, or the devices of one
    // cache set (any order), as given. Required.
    std::string cache;
    // The paths of `cache`, split at ':'.
    std::vector<std::string> cache_paths;
    // replicas=1|2: copies of dirty data, each on another device of the
    // set. Default: 1.
    unsigned replicas = 1;
    // degraded: mount a cache set with members missing (CacheSetOptions::degraded).
    bool degraded = false;
    // cache_size=SIZE: create and format a cache file of this size when
    // `cache` does not exist. Default: none (the cache must exist).
    std::optional<std::uint64_t> cache_size;
    // index=DIR: the RocksDB index. Default: none, meaning
    // /var/lib/bcachefs-lite/<cache UUID>.
    std::optional<std::string> index;
    // mode=: how writes use the cache (cache/cache_mode.h). mode=none never
    // opens the cache. Default: writethrough.
    CacheMode mode = CacheMode::writethrough;
    // writeback_percent=, writeback_delay=, writeback_rate_minimum=,
    // writeback_running=, cutoff_writeback=, cutoff_writeback_sync=: the
    // writeback tunables, named as bcache's sysfs files; parse_command_line()
    // checks them with validate(). They apply in every mode, since a mount
    // in another mode still writes back dirty data an earlier one left, and
    // the mode can change at run time. Default: WritebackTunables{}.
    WritebackTunables writeback;
    // promote=, promote_hits=, promote_trigger_percent=: which read misses
    // are cached (cache/promotion_tunables.h); parse_command_line() checks
    // them with validate(). Default: PromotionTunables{} (promote=always).
    PromotionTunables promotion;
    // io_error_limit=, io_error_halflife=: when a failing cache device is
    // taken out of service (device/io_error_counter.h, cache/cache_state.h).
    // Default: IoErrorTunables{} (8 errors, no decay).
    IoErrorTunables io_errors;
    // sequential_cutoff=, congested_read_threshold_us=,
    // congested_write_threshold_us=: which I/O skips the cache
    // (cache/sequential.h). Default: BypassTunables{} (4M, 2000, 20000).
    BypassTunables bypass;
    // pin_limit_percent=: the most of the cache pinned data may take, 0 to
    // 100 (cache/cache_set.h). Default: 50.
    unsigned pin_limit_percent = 50;
    // copy_gc_enabled=: moving GC (cache/moving_gc_tunables.h). Default:
    // MovingGcTunables{} (on).
    MovingGcTunables moving_gc;
    // identity=auto|inode|path: by its inode number, or by its path below
    // the backing root (identity.h). Default: automatic (path on a FUSE
    // backing, inode elsewhere).
    IdentityOption identity = IdentityOption::automatic;
    // replacement=: Default: none, meaning the policy the device was
    // formatted with.
    std::optional<ReplacementPolicy> replacement;
    // discard=BOOL: Default: none, meaning the device's setting.
    std::optional<bool> discard;
    // Seconds the kernel may cache names and attributes. Default: 1.0 each;
    // 0 makes changes made behind the cache's back visible at once.
    double entry_timeout = 1.0;
    double attr_timeout = 1.0;
    // kernel_cache: keep file pages in the kernel's page cache across opens.
    // Default: false.
    bool kernel_cache = false;

    // allow_insecure_cache: mount although users other than the daemon's
    // may read or write the cache files or devices or the index directory
    // (CacheSetOptions::require_private_files). Default: false (refused).
    bool allow_insecure_cache = false;

    // fsname=, subtype=: how the mount shows in the mount table. Defaults:
    // SOURCE and "bcachefs-lite" (so the type reads fuse.bcachefs-lite).
    std::optional<std::string> fsname;
    std::optional<std::string> subtype;
    // Every other FUSE or kernel mount option given (allow_other, ro, nosuid,
    // noatime, ...), in order, as "name" or "name=value". Default: empty.
    std::vector<std::string> fuse_options;

    // The FUSE file system type this mount shows as: "fuse." + subtype.
    std::string fs_type() const;
};

enum class OptionKind {
    path,          // a file system path
    size,          // a size with an optional binary suffix (512M, 8G)
    choice,        // one of the words in value_name, separated by '|'
    seconds,       // a non-negative decimal number of seconds
    number,        // a whole, non-negative decimal number (percent, seconds)
    boolean,       // name, name=BOOL or noname
    text,          // any string
    kernel_flag,   // handed to the kernel mount as given
    ignored,       // meaningful to mount(8) or fstab only; accepted and dropped
};

struct OptionSpec {
    std::string_view name;
    OptionKind kind;
    std::string_view value_name;    // "PATH", "SIZE", "lru|fifo|random"; empty for flags
    std::string_view default_text;  // what applies when the option is absent
    std::string_view description;   // one sentence
    // Stores a parsed value; null for kernel_flag and ignored options.
    Status (*apply)(MountOptions& options, std::string_view value);
};

// Every option, in the order --help and the man page list them.
std::span<const OptionSpec> mount_option_table();

// Parses one -o argument ("a,b=c,d"; a backslash escapes a comma) into
// options, later options overriding earlier ones. Errc::invalid naming the
// option on anything the table does not accept.
Status parse_option_list(std::string_view list, MountOptions& options);

enum class CommandAction { mount, help, version };

struct CommandLine {
    CommandAction action = CommandAction::mount;
    MountOptions options;
};

// Parses the arguments after argv[0]. For CommandAction::mount it also checks
// that SOURCE, MOUNTPOINT and cache= are present and that the values are
// possible (mode, timeouts, sizes, the writeback and promotion tunables
// with validate()); errors are one line a user can act on.
Result<CommandLine> parse_command_line(std::span<const std::string_view> args);

// The text of `bcachefs-lite --help`, generated from the table.
std::string help_text(std::string_view program);

// The argument vector handed to libfuse for the kernel mount: argv[0], then
// "-o" with fsname, subtype, max_read, default_permissions (always) and
// every other fuse_option, values escaped.
std::vector<std::string> fuse_mount_arguments(const MountOptions& options,
                                              std::string_view program,
                                              std::uint32_t max_read);

}  // namespace bcl
