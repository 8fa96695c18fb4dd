// The bypass mount options: sequential_cutoff= (a size),
// congested_read_threshold_us=, congested_write_threshold_us=, bcache's
// defaults and their one-line errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bcachefs_lite/fs/mount_options.h"

namespace bcl {
namespace {

Result<CommandLine> parse_bypass_options(const std::string& opts) {
    std::vector<std::string_view> args = {"/src", "/mnt", "-o", opts};
    return parse_command_line(args);
}

std::string bypass_option_error(const std::string& opts) {
    auto cmd = parse_bypass_options(opts);
    EXPECT_FALSE(cmd) << opts;
    if (cmd) return {};
    EXPECT_EQ(cmd.error().code, Errc::invalid);
    EXPECT_EQ(cmd.error().message.find('\n'), std::string::npos) << "errors are one line";
    return cmd.error().message;
}

TEST(BypassOptions, DefaultsAreBcaches) {
    auto cmd = parse_bypass_options("cache=/c");
    ASSERT_TRUE(cmd) << cmd.error().message;
    const BypassTunables& b = cmd.value().options.tunables.bypass;
    EXPECT_EQ(b.sequential_cutoff, 4u << 20);
    EXPECT_EQ(b.congested_read_threshold_us, 2000u);
    EXPECT_EQ(b.congested_write_threshold_us, 20000u);
}

TEST(BypassOptions, SizesAndWholeNumbersAreTaken) {
    auto cmd = parse_bypass_options(
        "cache=/c,sequential_cutoff=512K,congested_read_threshold_us=0,congested_write_threshold_us=4294967295");
    ASSERT_TRUE(cmd) << cmd.error().message;
    EXPECT_EQ(cmd.value().options.tunables.bypass.sequential_cutoff, 512u << 10);
    EXPECT_EQ(cmd.value().options.tunables.bypass.congested_read_threshold_us, 0u);
    EXPECT_EQ(cmd.value().options.tunables.bypass.congested_write_threshold_us, 4294967295u);
    cmd = parse_bypass_options("cache=/c,sequential_cutoff=0");
    ASSERT_TRUE(cmd) << cmd.error().message;
    EXPECT_EQ(cmd.value().options.tunables.bypass.sequential_cutoff, 0u) << "0 turns it off";
    cmd = parse_bypass_options("cache=/c,sequential_cutoff=4294967295");
    ASSERT_TRUE(cmd) << cmd.error().message;
}

TEST(BypassOptions, BadValuesAreOneLineErrorsNamingTheOption) {
    for (const char* bad :
         {"sequential_cutoff=lots", "sequential_cutoff=4G", "sequential_cutoff=-1", "sequential_cutoff="})
        EXPECT_NE(bypass_option_error(std::string("cache=/c,") + bad).find("sequential_cutoff"), std::string::npos)
            << bad;
    for (const char* bad : {"congested_read_threshold_us=fast", "congested_read_threshold_us=4294967296"})
        EXPECT_NE(bypass_option_error(std::string("cache=/c,") + bad).find("congested_read_threshold_us"),
                  std::string::npos)
            << bad;
    EXPECT_NE(bypass_option_error("cache=/c,congested_write_threshold_us=1.5").find("congested_write_threshold_us"),
              std::string::npos);
}

}  // namespace
}  // namespace bcl
