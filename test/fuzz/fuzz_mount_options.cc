// Fuzzes the daemon's command-line and mount option parser.
//
// Input: the arguments after argv[0], separated by NUL bytes (which no
// argument can hold). Each argument also goes to parse_option_list() on
// its own, as an -o list. Checks:
//   - an error is an Errc::invalid Result, never an exception or a crash;
//   - what parsing accepted keeps the promises of mount_options.h (values
//     in their ranges, tunables that validate());
//   - an accepted command line, written out again as options (the
//     tunables with their own formatters), parses to the same options;
//   - the -o list handed to libfuse splits, by libfuse's rules, into
//     exactly fsname, subtype, max_read and the kernel flags given.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/fs/mount_options.h"
#include "fuzz_check.h"

namespace bcl {
namespace {

constexpr std::uint32_t kMaxRead = 128 * 1024;

std::string escaped(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == ',' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

// How libfuse's fuse_opt splits an -o list: a backslash takes the next
// character as it is, or three octal digits as one byte.
std::vector<std::string> libfuse_split(std::string_view list) {
    std::vector<std::string> items(1);
    for (std::size_t i = 0; i < list.size(); ++i) {
        char c = list[i];
        if (c == ',') {
            items.emplace_back();
            continue;
        }
        if (c == '\\' && i + 1 < list.size()) {
            c = list[++i];
            if (c >= '0' && c <= '3' && i + 2 < list.size() && list[i + 1] >= '0' && list[i + 1] <= '7' &&
                list[i + 2] >= '0' && list[i + 2] <= '7') {
                c = static_cast<char>((c - '0') * 64 + (list[i + 1] - '0') * 8 + (list[i + 2] - '0'));
                i += 2;
            }
        }
        items.back().push_back(c);
    }
    return items;
}

// The shortest decimal text that reads back as the same double.
std::string seconds_text(double seconds) {
    char buf[512];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, seconds, std::chars_format::fixed);
    BCL_FUZZ_CHECK(ec == std::errc());
    return std::string(buf, end);
}

const OptionSpec* spec_named(std::string_view name) {
    for (const OptionSpec& spec : mount_option_table())
        if (spec.name == name) return &spec;
    return nullptr;
}

// What every option the table applied guarantees, before validate().
void check_fields(const MountOptions& o) {
    for (double t : {o.entry_timeout_seconds(), o.attr_timeout_seconds()})
        BCL_FUZZ_CHECK(std::isfinite(t) && t >= 0 && t <= 1e9);
    if (o.cache_size) BCL_FUZZ_CHECK(*o.cache_size > 0);
    if (o.index) BCL_FUZZ_CHECK(!o.index->empty());
    if (o.fsname) BCL_FUZZ_CHECK(!o.fsname->empty());
    if (o.subtype) BCL_FUZZ_CHECK(!o.subtype->empty());
    BCL_FUZZ_CHECK(parse_cache_mode(cache_mode_name(o.tunables.mode)) == o.tunables.mode);
    if (o.replacement) BCL_FUZZ_CHECK(std::string_view(replacement_name(*o.replacement)) != "unknown");
    for (const std::string& flag : o.fuse_options) {
        const OptionSpec* spec = spec_named(flag);
        BCL_FUZZ_CHECK(spec && spec->kind == OptionKind::kernel_flag);
    }
    BCL_FUZZ_CHECK(o.fs_type() == "fuse." + o.subtype.value_or("bcachefs-lite"));
}

bool same(const MountOptions& a, const MountOptions& b) {
    return a.source == b.source && a.mountpoint == b.mountpoint && a.foreground == b.foreground && a.debug == b.debug &&
           a.cache == b.cache && a.cache_size == b.cache_size && a.index == b.index && a.tunables == b.tunables &&
           a.replacement == b.replacement && a.discard == b.discard && a.entry_timeout == b.entry_timeout &&
           a.attr_timeout == b.attr_timeout && a.kernel_cache == b.kernel_cache && a.clone_fd == b.clone_fd &&
           a.allow_insecure_cache == b.allow_insecure_cache && a.fsname == b.fsname && a.subtype == b.subtype &&
           a.fuse_options == b.fuse_options;
}

// The command line that says everything `o` holds.
std::vector<std::string> render(const MountOptions& o) {
    std::string list = "cache=" + escaped(o.cache);
    if (o.cache_size) list += ",cache_size=" + std::to_string(*o.cache_size);
    if (o.index) list += ",index=" + escaped(*o.index);
    // Every tunable, with the table's own formatter.
    for (const OptionSpec& spec : mount_option_table())
        if (spec.is_tunable()) list += "," + std::string(spec.name) + "=" + spec.format(o.tunables);
    if (o.replacement) list += ",replacement=" + std::string(replacement_name(*o.replacement));
    if (o.discard) list += *o.discard ? ",discard" : ",nodiscard";
    if (o.entry_timeout) list += ",entry_timeout=" + seconds_text(*o.entry_timeout);
    if (o.attr_timeout) list += ",attr_timeout=" + seconds_text(*o.attr_timeout);
    list += o.kernel_cache ? ",kernel_cache=yes" : ",kernel_cache=no";
    list += o.clone_fd ? ",clone_fd=yes" : ",clone_fd=no";
    list += o.allow_insecure_cache ? ",allow_insecure_cache=yes" : ",allow_insecure_cache=no";
    if (o.fsname) list += ",fsname=" + escaped(*o.fsname);
    if (o.subtype) list += ",subtype=" + escaped(*o.subtype);
    for (const std::string& flag : o.fuse_options) list += "," + flag;

    std::vector<std::string> args{"-o", list};
    if (o.debug)
        args.emplace_back("-d");
    else if (o.foreground)
        args.emplace_back("-f");
    // After "--", a SOURCE that starts with '-' is still a path.
    args.insert(args.end(), {"--", o.source, o.mountpoint});
    return args;
}

Result<CommandLine> parse(const std::vector<std::string>& args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    return parse_command_line(views);
}

void check_mount(const MountOptions& o) {
    check_fields(o);
    BCL_FUZZ_CHECK(!o.cache.empty());
    BCL_FUZZ_CHECK(validate(o.tunables));
    BCL_FUZZ_CHECK(!o.debug || o.foreground);

    auto again = parse(render(o));
    if (!again) std::fprintf(stderr, "re-parse failed: %s\n", again.error().message.c_str());
    BCL_FUZZ_CHECK(again && again.value().action == CommandAction::mount);
    BCL_FUZZ_CHECK(same(again.value().options, o));

    const auto argv = fuse_mount_arguments(o, "bcachefs-lite", kMaxRead);
    BCL_FUZZ_CHECK(argv.size() == 3 && argv[0] == "bcachefs-lite" && argv[1] == "-o");
    const auto items = libfuse_split(argv[2]);
    // default_permissions always, once, after max_read; the other kernel
    // options in their order.
    std::vector<std::string> others;
    for (const std::string& opt : o.fuse_options)
        if (opt != "default_permissions") others.push_back(opt);
    BCL_FUZZ_CHECK(items.size() == 4 + others.size());
    BCL_FUZZ_CHECK(items[0] == "fsname=" + o.fsname.value_or(o.source));
    BCL_FUZZ_CHECK(items[1] == "subtype=" + o.subtype.value_or("bcachefs-lite"));
    BCL_FUZZ_CHECK(items[2] == "max_read=" + std::to_string(kMaxRead));
    BCL_FUZZ_CHECK(items[3] == "default_permissions");
    for (std::size_t i = 0; i < others.size(); ++i) BCL_FUZZ_CHECK(items[4 + i] == others[i]);
}

void fuzz_arguments(const std::vector<std::string>& args, bool has_newline) {
    for (const std::string& arg : args) {
        MountOptions o;
        if (auto st = parse_option_list(arg, o))
            check_fields(o);
        else
            fuzz::check_error(st.error(), {Errc::invalid}, has_newline);
    }

    auto cmd = parse(args);
    if (!cmd) {
        fuzz::check_error(cmd.error(), {Errc::invalid}, has_newline);
        return;
    }
    auto has = [&](std::string_view a, std::string_view b) {
        for (const std::string& arg : args)
            if (arg == a || arg == b) return true;
        return false;
    };
    switch (cmd.value().action) {
    case CommandAction::help: BCL_FUZZ_CHECK(has("-h", "--help")); break;
    case CommandAction::version: BCL_FUZZ_CHECK(has("-V", "--version")); break;
    case CommandAction::mount: check_mount(cmd.value().options); break;
    }
}

}  // namespace
}  // namespace bcl

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> args;
    for (std::size_t from = 0; from <= input.size();) {
        const std::size_t nul = std::min(input.find('\0', from), input.size());
        args.emplace_back(input.substr(from, nul - from));
        from = nul + 1;
    }
    try {
        bcl::fuzz_arguments(args, input.find('\n') != std::string_view::npos);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exception escaped the parser: %s\n", e.what());
        __builtin_trap();
    } catch (...) {
        std::fprintf(stderr, "exception escaped the parser\n");
        __builtin_trap();
    }
    return 0;
}
