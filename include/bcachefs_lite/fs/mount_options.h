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

#include "bcachefs_lite/cache/tunables.h"
#include "bcachefs_lite/util/replacement.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

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
    // mode= and every tunable (cache/tunables.h): writeback_percent=, ...,
    // promote=, ..., io_error_limit=, ..., sequential_cutoff=, ...,
    // pin_limit_percent=, copy_gc_enabled=, named as bcache's sysfs files
    // where bcache has them. They apply in every mode (a mount in another
    // mode still writes back dirty data an earlier one left, and the mode can
    // change at run time); mode=none never opens the cache.
    // parse_command_line() checks them with validate(). Default: Tunables{}.
    Tunables tunables;
    // identity=auto|inode|path: by its inode number, or by its path below
    // the backing root (identity.h). Default: automatic (path on a FUSE
    // backing, inode elsewhere).
    IdentityOption identity = IdentityOption::automatic;
    // replacement=: Default: none, meaning the policy the device was
    // formatted with.
    std::optional<Replacement> replacement;
    // discard=BOOL: Default: none, meaning the device's setting.
    std::optional<bool> discard;
    // Seconds the kernel may cache names and attributes. Default: none,
    // meaning the actimeo given at mount (Tunables::actimeo); 0 makes changes
    // made behind the cache's back visible at once.
    std::optional<double> entry_timeout;
    std::optional<double> attr_timeout;
    double entry_timeout_seconds() const { return entry_timeout.value_or(tunables.actimeo); }
    double attr_timeout_seconds() const { return attr_timeout.value_or(tunables.actimeo); }
    // kernel_cache: keep file pages in the kernel's page cache across opens.
    // Default: false.
    bool kernel_cache = false;
    // clone_fd: each FUSE worker thread reads and answers on a /dev/fuse
    // descriptor of its own. Default: false, as in libfuse.
    bool clone_fd = false;

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
    path,         // a file system path
    size,         // a size with an optional binary suffix (512M, 8G)
    choice,       // one of the words in value_name, separated by '|'
    seconds,      // a non-negative decimal number of seconds
    number,       // a whole, non-negative decimal number (percent, seconds)
    boolean,      // name, name=BOOL or noname
    text,         // any string
    kernel_flag,  // handed to the kernel mount as given
    ignored,      // meaningful to mount(8) or fstab only; accepted and dropped
};

// One row of the options table: every mount option, and every knob of the
// mount root (user.bcachefs_lite.<knob_name>), which are the tunables.
struct OptionSpec {
    std::string_view name = {};
    OptionKind kind = OptionKind::text;
    std::string_view value_name = {};    // "PATH", "SIZE", "lru|fifo|random"; empty for flags
    std::string_view default_text = {};  // what applies when the option is absent
    std::string_view description = {};   // one sentence, for --help
    // A mount-only option: stores a parsed value. Null for tunables, kernel
    // flags and ignored options.
    Status (*apply)(const OptionSpec& spec, MountOptions& options, std::string_view value) = nullptr;
    // A tunable: reads its text into `tunables` (syntax only; the ranges are
    // validate()'s) and formats it back, both at mount and as a knob.
    Status (*parse)(const OptionSpec& spec, Tunables& tunables, std::string_view value) = nullptr;
    std::string (*format)(const Tunables& tunables) = nullptr;
    // The knob's name on the mount root; empty for mount-only options.
    std::string_view knob_name = {};
    // The man page's paragraph, when it says more than the description:
    // sentences, *bold* and {italic} (man_roff.h renders it). The default
    // line is added from default_text.
    std::string_view man = {};

    bool is_tunable() const { return parse != nullptr; }
};

// Every option, in the order --help and the man page list them.
std::span<const OptionSpec> mount_option_table();
// A group of options in the man page: `title`, from the option named
// `first` on, with an introduction (OptionSpec::man's markup; may be empty).
struct OptionSection {
    std::string_view title;
    std::string_view first;
    std::string_view intro;
};

// The groups, in table order; the first starts at the table's first option.
std::span<const OptionSection> option_sections();
// The option named `name` (x-anything included), or null.
const OptionSpec* find_option(std::string_view name);
// The tunable whose knob on the mount root is `knob_name`, or null.
const OptionSpec* find_knob(std::string_view knob_name);

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
std::vector<std::string> fuse_mount_arguments(const MountOptions& options, std::string_view program,
                                              std::uint32_t max_read);

}  // namespace bcl
