// The promotion mount options: promote=, promote_hits=,
// promote_trigger_percent=, their defaults and their one-line errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bcachefs_lite/fs/mount_options.h"

namespace bcl {
namespace {

Result<CommandLine> parse_options(const std::string& opts) {
    std::vector<std::string_view> args = {"/src", "/mnt", "-o", opts};
    return parse_command_line(args);
}

std::string error_of(const std::string& opts) {
    auto cmd = parse_options(opts);
    EXPECT_FALSE(cmd) << opts;
    if (cmd) return {};
    EXPECT_EQ(cmd.error().code, Errc::invalid);
    EXPECT_EQ(cmd.error().message.find('\n'), std::string::npos) << "errors are one line";
    return cmd.error().message;
}

TEST(PromotionOptions, DefaultIsAlwaysWithOpenCasNhitDefaults) {
    auto cmd = parse_options("cache=/c");
    ASSERT_TRUE(cmd) << cmd.error().message;
    const PromotionTunables& p = cmd.value().options.tunables.promotion;
    EXPECT_EQ(p.promote, PromotePolicy::always);
    EXPECT_EQ(p.promote_hits, 2u);
    EXPECT_EQ(p.promote_trigger_percent, 80u);
}

TEST(PromotionOptions, ValuesAreParsed) {
    auto cmd = parse_options("cache=/c,promote=nhit,promote_hits=5,promote_trigger_percent=0");
    ASSERT_TRUE(cmd) << cmd.error().message;
    EXPECT_EQ(cmd.value().options.tunables.promotion, (PromotionTunables{PromotePolicy::nhit, 5, 0}));
    cmd = parse_options("cache=/c,promote=nhit,promote=always,promote_hits=255,promote_trigger_percent=100");
    ASSERT_TRUE(cmd) << cmd.error().message;
    EXPECT_EQ(cmd.value().options.tunables.promotion, (PromotionTunables{PromotePolicy::always, 255, 100}));
}

TEST(PromotionOptions, BadValuesGetAOneLineErrorNamingTheOption) {
    EXPECT_NE(error_of("cache=/c,promote=sometimes").find("promote"), std::string::npos);
    EXPECT_NE(error_of("cache=/c,promote=sometimes").find("always or nhit"), std::string::npos);
    EXPECT_NE(error_of("cache=/c,promote").find("promote=always|nhit"), std::string::npos);
    for (const char* bad :
         {"promote_hits=1", "promote_hits=256", "promote_hits=abc", "promote_hits=-2", "promote_hits="}) {
        SCOPED_TRACE(bad);
        EXPECT_NE(error_of(std::string("cache=/c,") + bad).find("promote_hits"), std::string::npos);
    }
    for (const char* bad :
         {"promote_trigger_percent=101", "promote_trigger_percent=8O", "promote_trigger_percent=50.5"}) {
        SCOPED_TRACE(bad);
        EXPECT_NE(error_of(std::string("cache=/c,") + bad).find("promote_trigger_percent"), std::string::npos);
    }
    EXPECT_NE(error_of("cache=/c,promote_hits=1").find("2 to 255"), std::string::npos);
    EXPECT_NE(error_of("cache=/c,promote_trigger_percent=101").find("0 to 100"), std::string::npos);
}

TEST(PromotionOptions, HelpListsThemWithTheirDefaults) {
    const std::string help = help_text("bcachefs-lite");
    EXPECT_NE(help.find("promote=always|nhit"), std::string::npos) << help;
    EXPECT_NE(help.find("(default: always)"), std::string::npos) << help;
    EXPECT_NE(help.find("promote_hits=N"), std::string::npos) << help;
    EXPECT_NE(help.find("promote_trigger_percent=PERCENT"), std::string::npos) << help;
}

}  // namespace
}  // namespace bcl
