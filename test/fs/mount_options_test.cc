// Unit tests of the option table and the command-line parser.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include "bcachefs_lite/fs/identity.h"
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
    EXPECT_EQ(o.tunables.mode, CacheMode::writethrough);
    EXPECT_EQ(o.tunables.writeback, WritebackTunables{});
    EXPECT_FALSE(o.replacement);
    EXPECT_FALSE(o.discard);
    EXPECT_EQ(o.tunables.actimeo, 3.0);
    EXPECT_EQ(o.entry_timeout_seconds(), 3.0);
    EXPECT_EQ(o.attr_timeout_seconds(), 3.0);
    EXPECT_FALSE(o.kernel_cache);
    EXPECT_FALSE(o.clone_fd);
    EXPECT_FALSE(o.foreground);
    EXPECT_FALSE(o.debug);
    EXPECT_TRUE(o.fuse_options.empty());
    EXPECT_EQ(o.fs_type(), "fuse.bcachefs-lite");
}

TEST(MountOptions, ActimeoIsTheDefaultOfTheKernelTimeouts) {
    MountOptions o = parse_ok("cache=/c,actimeo=60");
    EXPECT_EQ(o.tunables.actimeo, 60.0);
    EXPECT_EQ(o.entry_timeout_seconds(), 60.0);
    EXPECT_EQ(o.attr_timeout_seconds(), 60.0);
    o = parse_ok("cache=/c,attr_timeout=1,actimeo=0.5");
    EXPECT_EQ(o.attr_timeout_seconds(), 1.0);
    EXPECT_EQ(o.entry_timeout_seconds(), 0.5);
}

TEST(MountOptions, ActimeoOutOfRangeIsOneLine) {
    for (const char* bad :
         {"cache=/c,actimeo=-1", "cache=/c,actimeo=86401", "cache=/c,actimeo=x", "cache=/c,actimeo"}) {
        std::vector<std::string_view> args{"a", "b", "-o", bad};
        auto r = parse_command_line(args);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message.find("actimeo"), std::string::npos) << r.error().message;
        EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    }
}

TEST(MountOptions, EveryValueOption) {
    MountOptions o = parse_ok(
        "cache=/c,cache_size=512M,index=/var/idx,mode=none,replacement=fifo,discard=off,"
        "entry_timeout=0,attr_timeout=2.5,kernel_cache,clone_fd,fsname=slow,subtype=other,writeback_percent=20");
    EXPECT_EQ(o.cache, "/c");
    EXPECT_EQ(o.cache_size, 512ull << 20);
    EXPECT_EQ(o.index, "/var/idx");
    EXPECT_EQ(o.tunables.mode, CacheMode::none);
    EXPECT_EQ(o.replacement, Replacement::fifo);
    EXPECT_EQ(o.discard, false);
    EXPECT_EQ(o.entry_timeout_seconds(), 0.0);
    EXPECT_EQ(o.attr_timeout_seconds(), 2.5);
    EXPECT_TRUE(o.kernel_cache);
    EXPECT_TRUE(o.clone_fd);
    EXPECT_EQ(o.fsname, "slow");
    EXPECT_EQ(o.fs_type(), "fuse.other");
    EXPECT_EQ(o.tunables.writeback.writeback_percent, 20u);
}

TEST(MountOptions, BooleansAcceptBareNoAndValues) {
    EXPECT_EQ(parse_ok("cache=/c,discard").discard, true);
    EXPECT_EQ(parse_ok("cache=/c,nodiscard").discard, false);
    EXPECT_EQ(parse_ok("cache=/c,discard=yes").discard, true);
    EXPECT_EQ(parse_ok("cache=/c,discard=0").discard, false);
    EXPECT_FALSE(parse_ok("cache=/c,kernel_cache,nokernel_cache").kernel_cache);
}

TEST(MountOptions, KernelOptionsPassInOrderAndFstabOnesAreDropped) {
    MountOptions o = parse_ok(
        "cache=/c,allow_other,ro,nosuid,noatime,defaults,nofail,_netdev,x-systemd.automount,"
        "default_permissions");
    EXPECT_EQ(o.fuse_options,
              (std::vector<std::string>{"allow_other", "ro", "nosuid", "noatime", "default_permissions"}));
}

TEST(MountOptions, RepeatedDashOAndLaterWins) {
    auto cmd = parse({"-o", "cache=/a,mode=none", "/src", "-oallow_other", "/mnt", "-o", "cache=/b,mode=writethrough"});
    ASSERT_TRUE(cmd) << cmd.error().message;
    EXPECT_EQ(cmd.value().options.cache, "/b");
    EXPECT_EQ(cmd.value().options.tunables.mode, CacheMode::writethrough);
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

TEST(MountOptions, ACacheSetAndReplicas) {
    MountOptions one = parse_ok("cache=/dev/sdz1");
    EXPECT_EQ(one.cache_paths, std::vector<std::string>{"/dev/sdz1"});
    EXPECT_EQ(one.replicas, 1u);
    MountOptions set = parse_ok("cache=/dev/sdy1:/dev/sdz1,replicas=2");
    EXPECT_EQ(set.cache_paths, (std::vector<std::string>{"/dev/sdy1", "/dev/sdz1"}));
    EXPECT_EQ(set.cache, "/dev/sdy1:/dev/sdz1");
    EXPECT_EQ(set.replicas, 2u);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/a::/b"}).find("empty path"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/a:"}).find("empty path"), std::string::npos);
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/a:/b:/c:/d:/e:/f:/g:/h:/i"}).find("at most 8"), std::string::npos);
    for (const char* bad : {"0", "3", "two", ""})
        EXPECT_NE(parse_error({"/s", "/m", "-o", std::string("cache=/a,replicas=") + bad}).find("replicas"),
                  std::string::npos)
            << bad;
}

TEST(MountOptions, DegradedIsAFlagOffByDefault) {
    EXPECT_FALSE(parse_ok("cache=/a:/b").degraded);
    EXPECT_TRUE(parse_ok("cache=/a:/b,degraded").degraded);
    EXPECT_TRUE(parse_ok("cache=/a:/b,degraded=yes").degraded);
    EXPECT_FALSE(parse_ok("cache=/a:/b,degraded,nodegraded").degraded);
    const std::string bad = parse_error({"/s", "/m", "-o", "cache=/a:/b,degraded=maybe"});
    EXPECT_NE(bad.find("degraded"), std::string::npos) << bad;
    EXPECT_EQ(bad.find('\n'), std::string::npos) << bad;
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

TEST(MountOptions, EveryCacheModeIsAccepted) {
    EXPECT_EQ(parse_ok("cache=/c,mode=writethrough").tunables.mode, CacheMode::writethrough);
    EXPECT_EQ(parse_ok("cache=/c,mode=writeback").tunables.mode, CacheMode::writeback);
    EXPECT_EQ(parse_ok("cache=/c,mode=writearound").tunables.mode, CacheMode::writearound);
    EXPECT_EQ(parse_ok("cache=/c,mode=none").tunables.mode, CacheMode::none);
    std::string message = parse_error({"/s", "/m", "-o", "cache=/c,mode=WriteBack"});
    EXPECT_NE(message.find("expected writethrough, writeback, writearound or none"), std::string::npos) << message;
}

TEST(MountOptions, WritebackTunablesAreParsedIntoOneValue) {
    MountOptions o = parse_ok(
        "cache=/c,mode=writeback,writeback_percent=0,writeback_delay=5,"
        "writeback_rate_minimum=8K,nowriteback_running,cutoff_writeback=50,"
        "cutoff_writeback_sync=90");
    EXPECT_EQ(o.tunables.mode, CacheMode::writeback);
    EXPECT_EQ(o.tunables.writeback.writeback_percent, 0u);
    EXPECT_EQ(o.tunables.writeback.writeback_delay, std::chrono::seconds(5));
    EXPECT_EQ(o.tunables.writeback.writeback_rate_minimum, 8192u);
    EXPECT_FALSE(o.tunables.writeback.writeback_running);
    EXPECT_EQ(o.tunables.writeback.cutoff_writeback, 50u);
    EXPECT_EQ(o.tunables.writeback.cutoff_writeback_sync, 90u);
    EXPECT_TRUE(parse_ok("cache=/c,writeback_running=no,writeback_running").tunables.writeback.writeback_running);
    EXPECT_EQ(parse_ok("cache=/c,writeback_rate_minimum=1000000").tunables.writeback.writeback_rate_minimum, 1000000u);
    // The tunables are checked together, whatever their order: a sync
    // cutoff given after the cutoff it must not be below is fine.
    o = parse_ok("cache=/c,cutoff_writeback=80,cutoff_writeback_sync=85");
    EXPECT_EQ(o.tunables.writeback.cutoff_writeback, 80u);
    EXPECT_EQ(o.tunables.writeback.cutoff_writeback_sync, 85u);
}

// The table's default texts are the engine's defaults: giving every
// tunable its documented default changes nothing, and each formats back.
TEST(MountOptions, TunableDefaultTextsAreTheEngineDefaults) {
    std::string opts = "cache=/c";
    int tunables = 0;
    for (const OptionSpec& spec : mount_option_table()) {
        if (!spec.is_tunable()) continue;
        opts += "," + std::string(spec.name) + "=" + std::string(spec.default_text);
        Tunables parsed;
        ASSERT_TRUE(spec.parse(spec, parsed, spec.format(Tunables{}))) << spec.name;
        EXPECT_EQ(parsed, Tunables{}) << spec.name;
        ++tunables;
    }
    EXPECT_EQ(tunables, 19);
    EXPECT_EQ(parse_ok(opts).tunables, Tunables{}) << opts;
}

// Every tunable is a knob of the mount root under one name, and only they.
TEST(MountOptions, EveryTunableIsAKnobOnce) {
    std::set<std::string_view> knobs;
    for (const OptionSpec& spec : mount_option_table()) {
        EXPECT_EQ(spec.is_tunable(), !spec.knob_name.empty()) << spec.name;
        EXPECT_EQ(spec.is_tunable(), spec.format != nullptr) << spec.name;
        EXPECT_EQ(spec.is_tunable() || spec.kind == OptionKind::kernel_flag || spec.kind == OptionKind::ignored,
                  spec.apply == nullptr)
            << spec.name;
        if (!spec.is_tunable()) continue;
        EXPECT_TRUE(knobs.insert(spec.knob_name).second) << spec.knob_name;
        EXPECT_EQ(find_knob(spec.knob_name), &spec);
    }
    EXPECT_EQ(find_knob("mode"), nullptr) << "the mode's knob is cache_mode";
    EXPECT_EQ(find_knob("cache"), nullptr);
}

TEST(MountOptions, BadTunablesAreOneLineNamingTheOption) {
    struct Case {
        const char* option;
        const char* needle;
    };
    for (const Case& c : {
             Case{"writeback_percent=41", "writeback_percent"},
             Case{"writeback_percent=-1", "writeback_percent"},
             Case{"writeback_percent=ten", "writeback_percent"},
             Case{"writeback_percent=99999999999", "writeback_percent"},
             Case{"writeback_delay=1.5", "writeback_delay"},
             Case{"writeback_delay=", "writeback_delay"},
             Case{"writeback_rate_minimum=100", "writeback_rate_minimum"},
             Case{"writeback_rate_minimum=2G", "writeback_rate_minimum"},
             Case{"writeback_rate_minimum=fast", "writeback_rate_minimum"},
             Case{"writeback_running=maybe", "writeback_running"},
             Case{"cutoff_writeback=0", "cutoff_writeback"},
             Case{"cutoff_writeback=101", "cutoff_writeback"},
             Case{"cutoff_writeback_sync=101", "cutoff_writeback_sync"},
             Case{"cutoff_writeback=60,cutoff_writeback_sync=50", "cutoff_writeback_sync"},
             Case{"cutoff_writeback_sync=30", "cutoff_writeback_sync"},
         }) {
        std::string opts = std::string("cache=/c,") + c.option;
        std::string message = parse_error({"/s", "/m", "-o", opts});
        EXPECT_NE(message.find(c.needle), std::string::npos) << c.option << ": " << message;
    }
    // A value-less tunable that is not a boolean asks for its value.
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,writeback_percent"}).find("needs a value"), std::string::npos);
}

TEST(MountOptions, IdentityIsAutoUnlessGiven) {
    EXPECT_EQ(parse_ok("cache=/c").identity, IdentityOption::automatic);
    EXPECT_EQ(parse_ok("cache=/c,identity=inode").identity, IdentityOption::inode);
    EXPECT_EQ(parse_ok("cache=/c,identity=path").identity, IdentityOption::path);
    EXPECT_EQ(parse_ok("cache=/c,identity=path,identity=auto").identity, IdentityOption::automatic);
    EXPECT_EQ(parse_error({"/s", "/m", "-o", "cache=/c,identity=x"}),
              "invalid value 'x' for identity: expected auto, inode or path");
    EXPECT_NE(parse_error({"/s", "/m", "-o", "cache=/c,identity"}).find("identity=auto|inode|path"), std::string::npos);
}

TEST(MountOptions, AutoIdentityGoesByPathOnFuseBackingsOnly) {
    constexpr long kExt4 = 0xEF53;
    constexpr long kTmpfs = 0x01021994;
    using enum CacheMode;
    EXPECT_EQ(choose_identity(IdentityOption::automatic, writethrough, kFuseSuperMagic).identity, Identity::path);
    EXPECT_EQ(choose_identity(IdentityOption::automatic, writearound, kFuseSuperMagic).identity, Identity::path);
    EXPECT_EQ(choose_identity(IdentityOption::automatic, writethrough, kExt4).identity, Identity::inode);
    EXPECT_EQ(choose_identity(IdentityOption::automatic, writethrough, kTmpfs).identity, Identity::inode);
    // Writeback finds files by file handle, which names inodes.
    const IdentityChoice wb = choose_identity(IdentityOption::automatic, writeback, kFuseSuperMagic);
    EXPECT_EQ(wb.identity, Identity::inode);
    EXPECT_NE(wb.reason.find("mode=writeback"), std::string::npos) << wb.reason;
    // Given, it is taken as given; the cache refuses what it cannot do.
    EXPECT_EQ(choose_identity(IdentityOption::inode, writethrough, kFuseSuperMagic).identity, Identity::inode);
    EXPECT_EQ(choose_identity(IdentityOption::path, writethrough, kExt4).identity, Identity::path);
    EXPECT_EQ(choose_identity(IdentityOption::path, writeback, kExt4).identity, Identity::path);
    EXPECT_FALSE(choose_identity(IdentityOption::automatic, writethrough, kExt4).reason.empty());
}

TEST(MountOptions, TheFileSystemTypeOfAPathIsItsStatfsMagic) {
    auto type = file_system_type("/proc");
    ASSERT_TRUE(type) << type.error().message;
    EXPECT_EQ(type.value(), 0x9fa0) << "PROC_SUPER_MAGIC";
    EXPECT_FALSE(file_system_type("/nonexistent/path"));
}

TEST(MountOptions, FuseArgumentsCarryNameTypeAndOptions) {
    MountOptions o = parse_ok("cache=/c,allow_other,noexec");
    o.source = "/srv/a,b";
    auto args = fuse_mount_arguments(o, "bcachefs-lite", 1 << 20);
    ASSERT_EQ(args.size(), 3u);
    EXPECT_EQ(args[1], "-o");
    EXPECT_EQ(args[2],
              "fsname=/srv/a\\,b,subtype=bcachefs-lite,max_read=1048576,default_permissions,allow_other,noexec");
}

// allow_other alone must not let the kernel skip its permission checks.
TEST(MountOptions, DefaultPermissionsIsAlwaysOnAndNeverTwice) {
    for (const char* list : {"cache=/c,allow_other", "cache=/c,default_permissions,allow_other"}) {
        MountOptions o = parse_ok(list);
        auto args = fuse_mount_arguments(o, "bcachefs-lite", 4096);
        ASSERT_EQ(args.size(), 3u);
        EXPECT_EQ(args[2], "fsname=/src,subtype=bcachefs-lite,max_read=4096,default_permissions,allow_other") << list;
    }
}

TEST(MountOptions, AllowInsecureCacheIsOffUnlessGiven) {
    EXPECT_FALSE(parse_ok("cache=/c").allow_insecure_cache);
    EXPECT_TRUE(parse_ok("cache=/c,allow_insecure_cache").allow_insecure_cache);
    EXPECT_FALSE(parse_ok("cache=/c,allow_insecure_cache,noallow_insecure_cache").allow_insecure_cache);
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
