// Unit tests of the option table and the command-line parser.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bcachefs_lite/fs/mount_options.h"

namespace bcl {
namespace {

Result<CommandLine> parse(std::vector<std::string_view> args) { return parse_command_line(args); }

MountOptions parse_ok(const std::string& opts) {
    auto cmd = parse({"/src", "/mnt", "-o", opts});
    EXPECT_TRUE(cmd) << (cmd ? "" : cmd.error().message);
    return cmd ? cmd.value().options : MountOptions{};
}

std::string parse_error(std::vector<std::string_view> args) {
    auto cmd = parse(std::move(args));
    EXPECT_FALSE(cmd);
    if (cmd) return {};
    EXPECT_EQ(cmd.error().message.find('\n'), std::string::npos) << "errors are one line";
    return cmd.error().message;
}

TEST(MountOptions, DefaultsFromTheTable) {
    MountOptions o = parse_ok("cache=/dev/sdz1");
    EXPECT_EQ(o.source, "/src");
    EXPECT_EQ(o.mountpoint, "/mnt");
    EXPECT_EQ(o.cache, "/dev/sdz1");
    EXPECT_FALSE(o.cache_size);
    EXPECT_FALSE(o.index);
    EXPECT_EQ(o.mode, CacheMode::writethrough);
    EXPECT_FALSE(o.replacement);
    EXPECT_FALSE(o.discard);
    EXPECT_EQ(o.entry_timeout, 1.0);
    EXPECT_EQ(o.attr_timeout, 1.0);
    EXPECT_FALSE(o.kernel_cache);
    EXPECT_FALSE(o.foreground);
    EXPECT_FALSE(o.debug);
    EXPECT_TRUE(o.fuse_options.empty());
    EXPECT_EQ(o.fs_type(), "fuse.bcachefs-lite");
}

TEST(MountOptions, EveryValueOption) {
    MountOptions o = parse_ok(
        "cache=/c,cache_size=512M,index=/var/idx,mode=none,replacement=fifo,discard=off,"
        "entry_timeout=0,attr_timeout=2.5,kernel_cache,fsname=slow,subtype=other");
    EXPECT_EQ(o.cache, "/c");
    EXPECT_EQ(o.cache_size, 512ull << 20);
    EXPECT_EQ(o.index, "/var/idx");
    EXPECT_EQ(o.mode, CacheMode::none);
    EXPECT_EQ(o.replacement, ReplacementPolicy::fifo);
    EXPECT_EQ(o.discard, false);
    EXPECT_EQ(o.entry_timeout, 0.0);
    EXPECT_EQ(o.attr_timeout, 2.5);
    EXPECT_TRUE(o.kernel_cache);
    EXPECT_EQ(o.fsname, "slow");
    EXPECT_EQ(o.fs_type(), "fuse.other");
}

TEST(MountOptions, BooleansAcceptBareNoAndValues) {
    EXPECT_EQ(parse_ok("cache=/c,discard").discard, true);
    EXPECT_EQ(parse_ok("cache=/c,nodiscard").discard, false);
    EXPECT_EQ(parse_ok("cache=/c,discard=yes").discard, true);
    EXPECT_EQ(parse_ok("cache=/c,discard=0").discard, false);
    EXPECT_FALSE(parse_ok("cache=/c,kernel_cache,nokernel_cache").kernel_cache);
}

TEST(MountOptions, KernelOptionsPassInOrderAndFstabOnesAreDropped) {
    MountOptions o = parse_ok("cache=/c,allow_other,ro,nosuid,noatime,defaults,nofail,_netdev,x-systemd.automount,"
                              "default_permissions");
    EXPECT_EQ(o.fuse_options,
              (std::vector<std::string>{"allow_other", "ro", "nosuid", "noatime", "default_permissions"}));
}

TEST(MountOptions, RepeatedDashOAndLaterWins) {
    auto cmd = parse({"-o", "cache=/a,mode=none", "/src", "-oallow_other", "/mnt", "-o", "cache=/b,mode=writethrough"});
    ASSERT_TRUE(cmd) << cmd.error().message;
    EXPECT_EQ(cmd.value().options.cache, "/b");
    EXPECT_EQ(cmd.value().options.mode, CacheMode::writethrough);
    EXPECT_EQ(cmd.value().options.fuse_options, std::vector<std::string>{"allow_other"});
}

TEST(MountOptions, EscapedCommaStaysInTheValue) {
    EXPECT_EQ(parse_ok("cache=/dir\\,x/cache.img").cache, "/dir,x/cache.img");
}

TEST(MountOptions, ForegroundDebugHelpVersion) {
    auto cmd = parse({"/s", "/m", "-d", "-o", "cache=/c"});
    ASSERT_TRUE(cmd);
    EXPECT_TRUE(cmd.value().options.debug);
    EXPECT_TRUE(cmd.value().options.foreground);
    cmd = parse({"-f", "/s", "/m", "-o", "cache=/c"});
    ASSERT_TRUE(cmd);
    EXPECT_TRUE(cmd.value().options.foreground);
    EXPECT_FALSE(cmd.value().options.debug);
    for (std::string_view flag : {"-h", "--help"}) {
        cmd = parse({flag});
        ASSERT_TRUE(cmd);
        EXPECT_EQ(cmd.value().action, CommandAction::help);
    }
    for (std::string_view flag : {"-V", "--version"}) {
        cmd = parse({flag});
        ASSERT_TRUE(cmd);
        EXPECT_EQ(cmd.value().action, CommandAction::version);
    }
}

TEST(MountOptions, BadInputIsOneClearLine) {
    EXPECT_NE(parse_error({}).find("missing SOURCE and MOUNTPOINT"), std::string::npos);
    EXPECT_NE(parse_error({"/s"}).find("missing MOUNTPOINT"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "/x", "-o", "cache=/c"}).find("unexpected argument '/x'"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m"}).find("cache="), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o"}).find("-o needs an argument"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-x", "-o", "cache=/c"}).find("unknown command-line option '-x'"),
              std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,bogus"}).find("unknown option 'bogus'"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,mode=fast"}).find("'fast' for mode"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,entry_timeout=-1"}).find("entry_timeout"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,attr_timeout=soon"}).find("attr_timeout"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,attr_timeout=nan"}).find("attr_timeout"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,cache_size=12x"}).find("cache_size"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,cache_size=0"}).find("cache_size"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,replacement=mru"}).find("replacement"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,discard=maybe"}).find("discard"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,ro=1"}).find("takes no value"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache"}).find("needs a value"), std::string::npos);
}

TEST(MountOptions, ReservedModesSaySo) {
    for (std::string_view mode : {"mode=writeback", "mode=writearound"}) {
        std::string opts = "cache=/c," + std::string(mode);
        std::string message = parse_error({"/s", "/m", "-o", opts});
        EXPECT_NE(message.find("reserved"), std::string::npos) << message;
    }
}

TEST(MountOptions, FuseArgumentsCarryNameTypeAndOptions) {
    MountOptions o = parse_ok("cache=/c,allow_other,noexec");
    o.source = "/srv/a,b";
    auto args = fuse_mount_arguments(o, "bcachefs-lite", 1 << 20);
    ASSERT_EQ(args.size(), 3u);
    EXPECT_EQ(args[1], "-o");
    EXPECT_EQ(args[2], "fsname=/srv/a\\,b,subtype=bcachefs-lite,max_read=1048576,allow_other,noexec");
}

TEST(MountOptions, HelpListsEveryOptionWithItsDefault) {
    std::string help = help_text("bcachefs-lite");
    for (const OptionSpec& spec : mount_option_table()) {
        if (spec.kind == OptionKind::ignored) continue;
        EXPECT_NE(help.find("  " + std::string(spec.name)), std::string::npos) << spec.name;
        if (!spec.default_text.empty() && spec.default_text != "required") {
            EXPECT_NE(help.find("(default: " + std::string(spec.default_text) + ")"), std::string::npos) << spec.name;
        }
    }
}

TEST(MountOptions, ManPageListsEveryOption) {
    const char* path = std::getenv("BCACHEFS_LITE_MAN_PAGE");
    ASSERT_NE(path, nullptr) << "BCACHEFS_LITE_MAN_PAGE is set by meson";
    std::ifstream in(path);
    ASSERT_TRUE(in) << path;
    std::stringstream text;
    text << in.rdbuf();
    std::string page = text.str();
    for (const OptionSpec& spec : mount_option_table()) {
        std::string name(spec.name);
        // roff escapes '-' as "\-" and marks the name bold: \fBname\fR.
        std::string escaped;
        for (char c : name) {
            if (c == '-') escaped += '\\';
            escaped += c;
        }
        EXPECT_NE(page.find("\\fB" + escaped), std::string::npos) << name << " is missing from the man page";
    }
}

}  // namespace
}  // namespace bcl
