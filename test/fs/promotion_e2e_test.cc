// End-to-end: a mount with promote=nhit caches a range only at its second
// miss; the promotion tunables are knobs of the mount root (everyone reads
// them, root sets them, a bad value gets EINVAL and changes nothing, anyone
// else EPERM), and promotions and promotions_skipped are statistics there.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

class PromotionE2eTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        // 0: nhit applies from the start, even to the empty cache.
        spec.options += ",promote=nhit,promote_trigger_percent=0";
        return spec;
    }
    std::optional<std::string> knob(const std::string& name) { return get_xattr(t().mnt(), attr(name)); }
    int set_knob(const std::string& name, const std::string& value) { return set_xattr(t().mnt(), attr(name), value); }

    // One O_DIRECT read of the whole file: one request the daemon sees as is.
    void read_once(const std::string& rel, const std::string& want) {
        int fd = ::open(m(rel).c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
        ASSERT_GE(fd, 0) << std::strerror(errno);
        auto got = pread_aligned(fd, 0, want.size());
        ::close(fd);
        ASSERT_TRUE(got.has_value()) << std::strerror(errno);
        EXPECT_TRUE(*got == want) << rel << " differs from the backing file";
    }
};

TEST_F(PromotionE2eTest, ARangeIsCachedAtItsSecondMiss) {
    std::mt19937_64 rng(5);
    const std::string data = random_bytes(rng, 16384);
    put_backing("f", data);

    read_once("f", data);
    EXPECT_EQ(cached_bytes(m("f")), 0u) << "a range read once is not written to the cache";
    Stats s = stats();
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_EQ(s["promotions"], 0u);
    EXPECT_EQ(s["promotions_skipped"], 1u);
    EXPECT_EQ(s["cache_misses"], 1u);

    read_once("f", data);
    EXPECT_EQ(cached_bytes(m("f")), data.size());
    s = stats();
    EXPECT_EQ(s["promotions"], 1u);
    EXPECT_EQ(s["promotions_skipped"], 1u);
    EXPECT_EQ(s["cache_misses"], 2u);

    read_once("f", data);
    s = stats();
    EXPECT_EQ(s["cache_hits"], 1u) << s.text();
    EXPECT_EQ(s["cache_misses"], 2u);
}

TEST_F(PromotionE2eTest, KnobsShowTheMountOptionsAndRootChangesThem) {
    EXPECT_EQ(knob("promote"), "nhit");
    EXPECT_EQ(knob("promote_hits"), "2");
    EXPECT_EQ(knob("promote_trigger_percent"), "0");
    auto names = list_xattrs(t().mnt());
    ASSERT_TRUE(names.has_value());
    for (const char* name : {"promote", "promote_hits", "promote_trigger_percent", "promotions", "promotions_skipped"})
        EXPECT_NE(std::find(names->begin(), names->end(), attr(name)), names->end()) << name;

    EXPECT_EQ(set_knob("promote_hits", "3"), 0);
    EXPECT_EQ(knob("promote_hits"), "3");
    EXPECT_EQ(set_knob("promote_trigger_percent", "100\n"), 0) << "a trailing newline is not part of the value";
    EXPECT_EQ(knob("promote_trigger_percent"), "100");
    EXPECT_EQ(set_knob("promote", "always"), 0);
    EXPECT_EQ(knob("promote"), "always");

    // promote=always again: every miss is cached at once.
    std::mt19937_64 rng(6);
    const std::string data = random_bytes(rng, 8192);
    put_backing("g", data);
    read_once("g", data);
    EXPECT_EQ(cached_bytes(m("g")), data.size());
}

TEST_F(PromotionE2eTest, BadValuesAreRefusedAndChangeNothing) {
    const std::pair<std::string, std::string> bad[] = {
        {"promote", "sometimes"},          {"promote", ""},         {"promote_hits", "1"},
        {"promote_hits", "256"},           {"promote_hits", "two"}, {"promote_trigger_percent", "101"},
        {"promote_trigger_percent", "-1"},
    };
    for (const auto& [name, value] : bad) EXPECT_EQ(set_knob(name, value), EINVAL) << name << "=" << value;
    EXPECT_EQ(knob("promote"), "nhit");
    EXPECT_EQ(knob("promote_hits"), "2");
    EXPECT_EQ(knob("promote_trigger_percent"), "0");
    // The statistics are read-only.
    EXPECT_EQ(set_knob("promotions", "0"), EPERM);
    EXPECT_EQ(set_knob("promotions_skipped", "0"), EPERM);
}

TEST_F(PromotionE2eTest, OnlyRootChangesThem) {
    ASSERT_EQ(::chmod(t().mnt().c_str(), 0777), 0) << std::strerror(errno);
    int as_nobody = run_as(kNobody, kNogroup, [&] {
        if (get_xattr(t().mnt(), attr("promote")) != "nhit") return 10;
        if (set_xattr(t().mnt(), attr("promote"), "always") != EPERM) return 11;
        if (set_xattr(t().mnt(), attr("promote_hits"), "4") != EPERM) return 12;
        if (set_xattr(t().mnt(), attr("promote_trigger_percent"), "50") != EPERM) return 13;
        return 0;
    });
    EXPECT_EQ(as_nobody, 0) << "10: unreadable, 11-13: a knob set by someone else than root";
    EXPECT_EQ(knob("promote"), "nhit");
    EXPECT_EQ(knob("promote_hits"), "2");
    EXPECT_EQ(knob("promote_trigger_percent"), "0");
}

}  // namespace
}  // namespace bcl::test
