// End-to-end: moving GC's knob and statistics on the mount root. The
// copy_gc_enabled mount option sets the knob; root turns it on and off
// with the same words; a bad value answers EINVAL and changes nothing;
// anyone but root gets EPERM. (What moving GC does is tested in the engine,
// test/cache/moving_gc_test.cc, step by step.)
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

class MovingGcE2eTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        if (!enabled_at_mount_) spec.options += ",copy_gc_enabled=0";
        return spec;
    }
    std::optional<std::string> knob() { return get_xattr(t().mnt(), attr("copy_gc_enabled")); }
    int set_knob(const std::string& value) { return set_xattr(t().mnt(), attr("copy_gc_enabled"), value); }

    bool enabled_at_mount_ = true;
};

class MovingGcOffE2eTest : public MovingGcE2eTest {
protected:
    void SetUp() override {
        enabled_at_mount_ = false;
        MovingGcE2eTest::SetUp();
    }
};

TEST_F(MovingGcE2eTest, TheKnobAndTheStatisticsAreOnTheRoot) {
    EXPECT_EQ(knob(), "1");
    auto names = list_xattrs(t().mnt());
    ASSERT_TRUE(names.has_value());
    for (const char* name : {"copy_gc_enabled", "moving_gc_runs", "moved_bytes"})
        EXPECT_NE(std::find(names->begin(), names->end(), attr(name)), names->end()) << name;
    const Stats s = stats();
    EXPECT_EQ(s["moving_gc_runs"], 0u) << s.text();
    EXPECT_EQ(s["moved_bytes"], 0u) << s.text();
    EXPECT_EQ(set_xattr(t().mnt(), attr("moved_bytes"), "0"), EPERM) << "a statistic";

    ASSERT_EQ(set_knob("0"), 0);
    EXPECT_EQ(knob(), "0");
    ASSERT_EQ(set_knob("yes\n"), 0);
    EXPECT_EQ(knob(), "1");
}

TEST_F(MovingGcE2eTest, BadValuesAreRefusedAndOnlyRootChangesIt) {
    for (const char* bad : {"2", "maybe", "-1", "on off"}) EXPECT_EQ(set_knob(bad), EINVAL) << bad;
    EXPECT_EQ(knob(), "1");
    ASSERT_EQ(::chmod(t().mnt().c_str(), 0777), 0) << std::strerror(errno);
    int as_nobody = run_as(kNobody, kNogroup, [&] {
        if (get_xattr(t().mnt(), attr("copy_gc_enabled")) != "1") return 10;
        if (set_xattr(t().mnt(), attr("copy_gc_enabled"), "0") != EPERM) return 11;
        return 0;
    });
    EXPECT_EQ(as_nobody, 0) << "10: unreadable, 11: set by someone else than root";
    EXPECT_EQ(knob(), "1");
}

TEST_F(MovingGcOffE2eTest, TheMountOptionTurnsItOff) {
    EXPECT_EQ(knob(), "0");
    ASSERT_EQ(set_knob("1"), 0);
    EXPECT_EQ(knob(), "1");
}

}  // namespace
}  // namespace bcl::test
