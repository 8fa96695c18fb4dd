// The cache device error mount options: io_error_limit=,
// io_error_halflife=, their defaults (bcache's) and their one-line errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bcachefs_lite/fs/mount_options.h"

namespace bcl {
namespace {

Result<CommandLine> parse_io_error_options(const std::string& opts) {
    std::vector<std::string_view> args = {"/src", "/mnt", "-o", opts};
    return parse_command_line(args);
}

std::string io_error_option_error(const std::string& opts) {
    auto cmd = parse_io_error_options(opts);
    EXPECT_FALSE(cmd) << opts;
    if (cmd) return {};
    EXPECT_EQ(cmd.error().code, Errc::invalid);
    EXPECT_EQ(cmd.error().message.find('\n'), std::string::npos) << "errors are one line";
    return cmd.error().message;
}

TEST(IoErrorOptions, DefaultsAreBcaches) {
    auto cmd = parse_io_error_options("cache=/c");
    ASSERT_TRUE(cmd) << cmd.error().message;
    EXPECT_EQ(cmd.value().options.tunables.io_errors, (IoErrorTunables{8, 0}));
}

// The option keeps the value given; the counter rounds the halflife down
// to its steps of 88 when it takes it, as the knob then reads.
TEST(IoErrorOptions, ValuesAreParsedAndTheCounterRoundsTheHalflifeTo88) {
    auto cmd = parse_io_error_options("cache=/c,io_error_limit=0,io_error_halflife=8800");
    ASSERT_TRUE(cmd) << cmd.error().message;
    EXPECT_EQ(cmd.value().options.tunables.io_errors, (IoErrorTunables{0, 8800}));
    cmd = parse_io_error_options("cache=/c,io_error_limit=4294967295,io_error_halflife=100");
    ASSERT_TRUE(cmd) << cmd.error().message;
    EXPECT_EQ(cmd.value().options.tunables.io_errors, (IoErrorTunables{4294967295u, 100}));
    EXPECT_EQ(IoErrorCounter(cmd.value().options.tunables.io_errors).tunables(), (IoErrorTunables{4294967295u, 88}));
}

TEST(IoErrorOptions, BadValuesGetAOneLineErrorNamingTheOption) {
    for (const char* bad :
         {"io_error_limit=x", "io_error_limit=-1", "io_error_limit=", "io_error_limit=4294967296", "io_error_limit"}) {
        SCOPED_TRACE(bad);
        EXPECT_NE(io_error_option_error(std::string("cache=/c,") + bad).find("io_error_limit"), std::string::npos);
    }
    for (const char* bad : {"io_error_halflife=1.5", "io_error_halflife=1e3", "io_error_halflife=ten"}) {
        SCOPED_TRACE(bad);
        EXPECT_NE(io_error_option_error(std::string("cache=/c,") + bad).find("io_error_halflife"), std::string::npos);
    }
}

}  // namespace
}  // namespace bcl
