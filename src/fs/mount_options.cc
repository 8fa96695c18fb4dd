#include "bcachefs_lite/fs/mount_options.h"

#include <fmt/format.h>

namespace bcl {
namespace {

using K = OptionKind;

constexpr std::string_view kUsage = "usage: bcachefs-lite SOURCE MOUNTPOINT -o cache=PATH[,OPTION...] [-f] [-d]";

// A value for `spec`: into the tunables for a tunable, else through its
// apply function.
Status store(const OptionSpec& spec, MountOptions& options, std::string_view value) {
    if (spec.is_tunable()) return spec.parse(spec, options.tunables, value);
    return spec.apply(spec, options, value);
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
        if (positive && positive->kind == K::boolean) return store(*positive, options, "no");
    }
    if (!spec) return make_error(Errc::invalid, fmt::format("unknown option '{}' (see bcachefs-lite --help)", name));
    switch (spec->kind) {
    case K::ignored: return ok();
    case K::kernel_flag:
        if (value) return make_error(Errc::invalid, fmt::format("option {} takes no value", name));
        options.fuse_options.emplace_back(name);
        return ok();
    case K::boolean: return store(*spec, options, value.value_or(""));
    default:
        if (!value)
            return make_error(Errc::invalid,
                              fmt::format("option {} needs a value: {}={}", name, name, spec->value_name));
        return store(*spec, options, *value);
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

const char* identity_option_name(IdentityOption option) {
    switch (option) {
    case IdentityOption::automatic: return "auto";
    case IdentityOption::inode: return "inode";
    case IdentityOption::path: return "path";
    }
    return "?";
}

std::string MountOptions::fs_type() const { return "fuse." + subtype.value_or("bcachefs-lite"); }

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
            if (i + 1 == args.size())
                return make_error(Errc::invalid, "option -o needs an argument: -o OPTION[,OPTION...]");
            BCL_TRY(parse_option_list(args[++i], cmd.options));
        } else if (arg.starts_with("-o")) {
            BCL_TRY(parse_option_list(arg.substr(2), cmd.options));
        } else {
            return make_error(Errc::invalid, fmt::format("unknown command-line option '{}'; {}", arg, kUsage));
        }
    }
    if (positional.empty()) return make_error(Errc::invalid, fmt::format("missing SOURCE and MOUNTPOINT; {}", kUsage));
    if (positional.size() == 1) return make_error(Errc::invalid, fmt::format("missing MOUNTPOINT; {}", kUsage));
    if (positional.size() > 2)
        return make_error(Errc::invalid, fmt::format("unexpected argument '{}'; {}", positional[2], kUsage));
    cmd.options.source = positional[0];
    cmd.options.mountpoint = positional[1];
    if (cmd.options.cache.empty()) {
        return make_error(
            Errc::invalid,
            "missing required option cache=PATH (the cache device or file), e.g. -o cache=/dev/nvme0n1p3");
    }
    // The tunables are checked together: cutoff_writeback_sync may be given
    // after the cutoff_writeback it must not be below.
    if (auto valid = validate(cmd.options.tunables); !valid) return valid.error();
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
    for (const OptionSpec& spec : mount_option_table()) {
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
    out +=
        "\nAlso accepted and ignored, for fstab: defaults, auto, noauto, nofail, _netdev,\n"
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
