// The moving GC mount option: copy_gc_enabled=, its default (bcache's, on)
// and its one-line error.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bcachefs_lite/fs/mount_options.h"

namespace bcl {
namespace {

Result<CommandLine> parse_moving_gc_options(const std::string& opts) {
    std::vector<std::string_view> args = {"/src", "/mnt", "-o", opts};
    return parse_command_line(args);
}

TEST(MovingGcOptions, OnByDefaultAsInBcache) {
    auto cmd = parse_moving_gc_options("cache=/c");
    ASSERT_TRUE(cmd) << cmd.error().message;
    EXPECT_TRUE(cmd.value().options.tunables.moving_gc.copy_gc_enabled);
}

TEST(MovingGcOptions, TakesEveryBooleanSpelling) {
    for (const char* off : {"copy_gc_enabled=0", "copy_gc_enabled=no", "copy_gc_enabled=off", "nocopy_gc_enabled"}) {
        SCOPED_TRACE(off);
        auto cmd = parse_moving_gc_options(std::string("cache=/c,") + off);
        ASSERT_TRUE(cmd) << cmd.error().message;
        EXPECT_FALSE(cmd.value().options.tunables.moving_gc.copy_gc_enabled);
    }
    for (const char* on : {"copy_gc_enabled", "copy_gc_enabled=1", "copy_gc_enabled=yes"}) {
        SCOPED_TRACE(on);
        auto cmd = parse_moving_gc_options(std::string("cache=/c,nocopy_gc_enabled,") + on);
        ASSERT_TRUE(cmd) << cmd.error().message;
        EXPECT_TRUE(cmd.value().options.tunables.moving_gc.copy_gc_enabled);
    }
}

TEST(MovingGcOptions, ABadValueGetsAOneLineErrorNamingTheOption) {
    for (const char* bad : {"copy_gc_enabled=2", "copy_gc_enabled=maybe", "copy_gc_enabled=-1"}) {
        SCOPED_TRACE(bad);
        auto cmd = parse_moving_gc_options(std::string("cache=/c,") + bad);
        ASSERT_FALSE(cmd);
        EXPECT_EQ(cmd.error().code, Errc::invalid);
        EXPECT_EQ(cmd.error().message.find('\n'), std::string::npos) << "errors are one line";
        EXPECT_NE(cmd.error().message.find("copy_gc_enabled"), std::string::npos) << cmd.error().message;
    }
}

}  // namespace
}  // namespace bcl
