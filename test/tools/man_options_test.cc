// The MOUNT OPTIONS section of bcachefs-lite(8), rendered from the options
// table: the markup, and that every option and group shows once.
#include <gtest/gtest.h>

#include <string>

#include "options_roff.h"

namespace bcl {
namespace {

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

TEST(ManOptions, MarkupBecomesRoff) {
    EXPECT_EQ(roff_text("see *CACHE MODES* and {SOURCE}"), "see \\fBCACHE MODES\\fR and \\fISOURCE\\fR");
    EXPECT_EQ(roff_text("x-y a\\b"), "x\\-y a\\eb");
    EXPECT_EQ(roff_text(".starts with a dot"), "\\&.starts with a dot");
    EXPECT_EQ(roff_text("*left open"), "\\fBleft open\\fR");
}

TEST(ManOptions, EveryOptionAndGroupOnce) {
    const std::string page = render_mount_options(mount_option_table(), option_sections());
    EXPECT_EQ(page.rfind(".SH MOUNT OPTIONS\n", 0), 0u);
    for (const OptionSection& s : option_sections())
        EXPECT_EQ(count(page, ".SS " + std::string(s.title) + "\n"), 1u) << s.title;
    std::size_t tagged = 0;
    for (const OptionSpec& spec : mount_option_table()) {
        std::string name;
        for (char c : spec.name) name += c == '-' ? std::string("\\-") : std::string(1, c);
        EXPECT_NE(page.find("\\fB" + name), std::string::npos) << spec.name;
        if (spec.kind != OptionKind::ignored) ++tagged;
    }
    EXPECT_EQ(count(page, ".TP\n"), tagged);
    EXPECT_EQ(count(page, "Required; there is no default."), 1u);
}

// Every group starts at an option of the table, the first group at its
// first option, so that no option falls outside a group.
TEST(ManOptions, GroupsStartAtOptions) {
    ASSERT_FALSE(option_sections().empty());
    EXPECT_EQ(option_sections().front().first, mount_option_table().front().name);
    for (const OptionSection& s : option_sections()) EXPECT_NE(find_option(s.first), nullptr) << s.first;
}

}  // namespace
}  // namespace bcl
