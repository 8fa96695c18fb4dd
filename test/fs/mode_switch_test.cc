// End-to-end: the cache mode and the writeback tunables as extended
// attributes of the mount root. Everyone reads them; root changes them at
// run time (setfattr), anyone else gets EPERM; a bad value gets EINVAL and
// changes nothing. Leaving writeback keeps the dirty data until it is
// written back. The flush trigger is write-only and anyone's; every file
// shows its dirty_bytes.
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

// The knobs and a value other than the default for each.
const std::map<std::string, std::string>& knob_changes() {
    static const std::map<std::string, std::string> changes = {
        {"cache_mode", "writeback"},        {"writeback_percent", "25"}, {"writeback_delay", "3"},
        {"writeback_rate_minimum", "8192"}, {"writeback_running", "0"},  {"cutoff_writeback", "50"},
        {"cutoff_writeback_sync", "80"},
    };
    return changes;
}

class ModeSwitchTest : public CacheMountTest {
protected:
    std::optional<std::string> knob(const std::string& name) { return get_xattr(t().mnt(), attr(name)); }
    int set_knob(const std::string& name, const std::string& value) { return set_xattr(t().mnt(), attr(name), value); }

    // Lets every user set user.* attributes on the root, as far as the
    // kernel's permission check (default_permissions) goes: what they may
    // set is then the daemon's answer alone.
    void open_root_to_everyone() { ASSERT_EQ(::chmod(t().mnt().c_str(), 0777), 0) << std::strerror(errno); }
};

TEST_F(ModeSwitchTest, KnobsShowTheMountsModeAndBcachesDefaults) {
    EXPECT_EQ(knob("cache_mode"), "writethrough");
    EXPECT_EQ(knob("writeback_percent"), "10");
    EXPECT_EQ(knob("writeback_delay"), "30");
    EXPECT_EQ(knob("writeback_rate_minimum"), "4096");
    EXPECT_EQ(knob("writeback_running"), "1");
    EXPECT_EQ(knob("cutoff_writeback"), "40");
    EXPECT_EQ(knob("cutoff_writeback_sync"), "70");
    auto debug = knob("writeback_rate_debug");
    ASSERT_TRUE(debug.has_value());
    // One line each, as bcache's writeback_rate_debug.
    for (const char* line : {"rate:", "dirty:", "target:", "proportional:", "integral:"}) {
        EXPECT_TRUE(debug->starts_with(line) || debug->find(std::string("\n") + line) != std::string::npos)
            << line << " missing in:\n"
            << *debug;
    }
    EXPECT_NE(debug->find("dirty:        0 B\n"), std::string::npos) << *debug;
    auto names = list_xattrs(t().mnt());
    ASSERT_TRUE(names.has_value());
    for (const auto& [name, value] : knob_changes()) {
        EXPECT_NE(std::find(names->begin(), names->end(), attr(name)), names->end()) << name;
    }
    EXPECT_NE(std::find(names->begin(), names->end(), attr("writeback_rate_debug")), names->end());
    EXPECT_EQ(std::find(names->begin(), names->end(), attr("flush")), names->end()) << "flush is write-only";
    int err = 0;
    EXPECT_FALSE(get_xattr(t().mnt(), attr("flush"), &err).has_value());
    EXPECT_EQ(err, ENODATA);
}

TEST_F(ModeSwitchTest, RootSetsEveryKnob) {
    for (const auto& [name, value] : knob_changes()) {
        SCOPED_TRACE(name);
        EXPECT_EQ(set_knob(name, value), 0) << std::strerror(set_knob(name, value));
        EXPECT_EQ(knob(name), value);
    }
    // The mount options' forms are accepted too: a size suffix, yes/no.
    EXPECT_EQ(set_knob("writeback_rate_minimum", "16K"), 0);
    EXPECT_EQ(knob("writeback_rate_minimum"), "16384");
    EXPECT_EQ(set_knob("writeback_running", "yes"), 0);
    EXPECT_EQ(knob("writeback_running"), "1");
    EXPECT_EQ(set_knob("cache_mode", "writearound\n"), 0) << "a trailing newline is not part of the value";
    EXPECT_EQ(knob("cache_mode"), "writearound");
}

TEST_F(ModeSwitchTest, BadValuesAreRefusedAndChangeNothing) {
    const std::pair<std::string, std::string> bad[] = {
        {"cache_mode", "fast"},
        {"cache_mode", ""},
        {"writeback_percent", "41"},
        {"writeback_percent", "ten"},
        {"writeback_delay", "1.5"},
        {"writeback_rate_minimum", "100"},
        {"writeback_running", "maybe"},
        {"cutoff_writeback", "0"},
        {"cutoff_writeback", "80"},  // above cutoff_writeback_sync (70)
        {"cutoff_writeback_sync", "101"},
        {"cutoff_writeback_sync", "30"},  // below cutoff_writeback (40)
        {"flush", "2"},
    };
    std::map<std::string, std::optional<std::string>> before;
    for (const auto& [name, value] : knob_changes()) before[name] = knob(name);
    for (const auto& [name, value] : bad) {
        EXPECT_EQ(set_knob(name, value), EINVAL) << name << "=" << value;
    }
    for (const auto& [name, value] : knob_changes()) EXPECT_EQ(knob(name), before[name]) << name;
}

TEST_F(ModeSwitchTest, OnlyRootChangesKnobsButAnyoneMayFlush) {
    open_root_to_everyone();
    int as_nobody = run_as(kNobody, kNogroup, [&] {
        for (const auto& [name, value] : knob_changes()) {
            if (!get_xattr(t().mnt(), attr(name))) return 10;
            if (set_xattr(t().mnt(), attr(name), value) != EPERM) return 11;
        }
        if (set_xattr(t().mnt(), attr("cache_hits"), "0") != EPERM) return 12;
        if (set_xattr(t().mnt(), attr("flush"), "1") != 0) return 13;
        return 0;
    });
    EXPECT_EQ(as_nobody, 0) << "10: a knob unreadable, 11: a knob set, 12: a statistic set, 13: flush refused";
    EXPECT_EQ(knob("cache_mode"), "writethrough");
    EXPECT_EQ(knob("writeback_percent"), "10");
    EXPECT_EQ(knob("writeback_running"), "1");
    // Removing a knob is no way around it, for anyone.
    EXPECT_EQ(::removexattr(t().mnt().c_str(), attr("cache_mode").c_str()), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(knob("cache_mode"), "writethrough");
}

// Writethrough -> writeback -> writethrough: writes made in writeback stay
// dirty after the switch back, new writes go to the backing file, and a
// flush writes the old ones back.
TEST_F(ModeSwitchTest, LeavingWritebackKeepsDirtyDataUntilFlushed) {
    ASSERT_EQ(set_knob("writeback_running", "0"), 0);
    ASSERT_EQ(set_knob("cache_mode", "writeback"), 0);
    std::mt19937_64 rng(501);
    const std::string dirty = random_bytes(rng, 50000);
    ASSERT_TRUE(write_file(m("dirty"), dirty));
    EXPECT_FALSE(read_file(b("dirty")) == dirty) << "a writeback write reached the backing file";
    const std::uint64_t dirty_data = stat_xattr(t().mnt(), "dirty_data").value_or(0);
    EXPECT_GE(dirty_data, dirty.size());
    EXPECT_GE(dirty_bytes(m("dirty")).value_or(0), dirty.size());

    ASSERT_EQ(set_knob("cache_mode", "writethrough"), 0);
    const std::string clean = random_bytes(rng, 30000);
    ASSERT_TRUE(write_file(m("clean"), clean));
    EXPECT_TRUE(read_file(b("clean")) == clean) << "a writethrough write did not reach the backing file";
    EXPECT_EQ(dirty_bytes(m("clean")), 0u);
    EXPECT_EQ(stat_xattr(t().mnt(), "dirty_data"), dirty_data) << "leaving writeback dropped or wrote back data";
    expect_mount_reads("dirty", dirty);

    ASSERT_EQ(set_knob("flush", "1"), 0);
    EXPECT_TRUE(wait_for_stat(t().mnt(), "dirty_data", [](std::uint64_t v) { return v == 0; }))
        << get_xattr(t().mnt(), attr("writeback_rate_debug")).value_or("?");
    EXPECT_TRUE(read_file(b("dirty")) == dirty);
    EXPECT_EQ(dirty_bytes(m("dirty")), 0u);
}

TEST_F(ModeSwitchTest, EveryFileShowsItsDirtyBytes) {
    ASSERT_TRUE(write_file(b("f"), "backing data"));
    auto names = list_xattrs(m("f"));
    ASSERT_TRUE(names.has_value());
    EXPECT_NE(std::find(names->begin(), names->end(), attr("dirty_bytes")), names->end());
    EXPECT_EQ(dirty_bytes(m("f")), 0u);
    EXPECT_EQ(::setxattr(m("f").c_str(), attr("dirty_bytes").c_str(), "1", 1, 0), -1);
    EXPECT_EQ(errno, EPERM);
    // The knobs are the root's alone.
    int err = 0;
    EXPECT_FALSE(get_xattr(m("f"), attr("cache_mode"), &err).has_value());
    EXPECT_EQ(err, ENODATA);
    EXPECT_EQ(set_xattr(m("f"), attr("cache_mode"), "writeback"), EPERM);
    EXPECT_EQ(knob("cache_mode"), "writethrough");
}

}  // namespace
}  // namespace bcl::test
