// End-to-end: who may change what under user.bcachefs_lite. Every name the
// mount root offers that root can set (the knobs: the mode and every
// tunable, found by asking rather than from a list, so that a new knob is
// covered the day it appears) is refused to any other caller with EPERM,
// for setxattr with every flag and for removexattr, and keeps its value.
// Names under the prefix that the cache does not know are refused with
// EINVAL to set and ENODATA to get or remove, to root and to everyone else,
// on the root and on files; none of it ever reaches a backing file. A mount
// without the cache (mode=none) refuses every set with ENOTSUP, also
// without writing anything to the backing directory.
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <vector>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

// Names under the prefix that nothing answers to: a wrong case, a knob
// with a suffix, the bare prefix, a name with odd bytes.
const std::vector<std::string>& unknown_names() {
    static const std::vector<std::string> names = {
        attr("hits"),   attr("CACHE_MODE"), attr("cache_mode.old"),      attr(""), attr("writeback_percent "),
        attr("x\x01y"), attr("stats/x"),    attr(std::string(200, 'k')),
    };
    return names;
}

// The user.* names a backing file or directory carries under the prefix.
std::vector<std::string> reserved_names_on(const std::string& path) {
    std::vector<std::string> out;
    std::string buf(65536, '\0');
    ssize_t n = ::llistxattr(path.c_str(), buf.data(), buf.size());
    if (n < 0) return {"<llistxattr: " + std::string(std::strerror(errno)) + ">"};
    buf.resize(static_cast<std::size_t>(n));
    for (std::size_t pos = 0; pos < buf.size();) {
        std::size_t end = buf.find('\0', pos);
        if (end == std::string::npos) end = buf.size();
        std::string name = buf.substr(pos, end - pos);
        if (name.starts_with(kStatPrefix)) out.push_back(name);
        pos = end + 1;
    }
    return out;
}

// setxattr as a plain call: 0 or errno.
int set_with_flags(const std::string& path, const std::string& name, const std::string& value, int flags) {
    return ::setxattr(path.c_str(), name.c_str(), value.data(), value.size(), flags) == 0 ? 0 : errno;
}

int remove_attr(const std::string& path, const std::string& name) {
    return ::removexattr(path.c_str(), name.c_str()) == 0 ? 0 : errno;
}

class TunablesAccessTest : public CacheMountTest {
protected:
    // The names root lists on the mount root with their values, and which of
    // them root can set (to the value they hold, which changes nothing).
    struct Knob {
        std::string name;
        std::string value;
    };
    std::vector<Knob> discover_knobs() {
        std::vector<Knob> knobs;
        auto names = list_xattrs(t().mnt());
        EXPECT_TRUE(names.has_value());
        if (!names) return knobs;
        for (const std::string& name : *names) {
            if (!name.starts_with(kStatPrefix)) continue;
            auto value = get_xattr(t().mnt(), name);
            EXPECT_TRUE(value.has_value()) << name << " is listed but cannot be read";
            if (!value) continue;
            int err = set_xattr(t().mnt(), name, *value);
            if (err == 0) {
                knobs.push_back({name, *value});
            } else {
                EXPECT_EQ(err, EPERM) << name << ": a listed name that root cannot set is a statistic";
            }
        }
        return knobs;
    }

    // Lets every user set user.* attributes on the root and on `file` as far
    // as the kernel's permission check goes: what they may set is then the
    // daemon's answer alone.
    void open_to_everyone(const std::string& file) {
        ASSERT_EQ(::chmod(t().mnt().c_str(), 0777), 0) << std::strerror(errno);
        ASSERT_TRUE(write_file(m(file), "data"));
        ASSERT_EQ(::chown(m(file).c_str(), kNobody, kNogroup), 0) << std::strerror(errno);
    }

    void expect_nothing_reached_the_backing(const std::string& file) {
        EXPECT_EQ(reserved_names_on(t().backing()), std::vector<std::string>{}) << "the backing root";
        EXPECT_EQ(reserved_names_on(b(file)), std::vector<std::string>{}) << "the backing file";
    }
};

TEST_F(TunablesAccessTest, EveryKnobIsRefusedToEveryoneButRoot) {
    const std::vector<Knob> knobs = discover_knobs();
    // The mode, six writeback tunables and three of promotion at least.
    ASSERT_GE(knobs.size(), 10u);
    for (const char* expected : {"cache_mode", "writeback_percent", "writeback_delay", "writeback_rate_minimum",
                                 "writeback_running", "cutoff_writeback", "cutoff_writeback_sync", "promote",
                                 "promote_hits", "promote_trigger_percent", "copy_gc_enabled"}) {
        EXPECT_TRUE(std::any_of(knobs.begin(), knobs.end(), [&](const Knob& k) { return k.name == attr(expected); }))
            << expected << " is not settable by root";
    }
    open_to_everyone("f");
    // Values that are valid for each knob and differ from its default where
    // one is known, so that a wrongly granted set would show.
    const std::map<std::string, std::string> other = {
        {attr("cache_mode"), "writeback"}, {attr("writeback_percent"), "25"}, {attr("writeback_running"), "0"},
        {attr("promote"), "always"},       {attr("promote_hits"), "4"},       {attr("copy_gc_enabled"), "0"},
    };
    for (const Knob& knob : knobs) {
        SCOPED_TRACE(knob.name);
        const std::string value = other.count(knob.name) ? other.at(knob.name) : knob.value;
        int result = run_as(kNobody, kNogroup, [&] {
            if (get_xattr(t().mnt(), knob.name) != knob.value) return 10;
            for (int flags : {0, int{XATTR_REPLACE}, int{XATTR_CREATE}}) {
                if (set_with_flags(t().mnt(), knob.name, value, flags) != EPERM) return 11 + flags;
            }
            if (remove_attr(t().mnt(), knob.name) != EPERM) return 14;
            // The same name on a file the caller owns is no way around it.
            if (set_with_flags(m("f"), knob.name, value, 0) != EPERM) return 15;
            return 0;
        });
        EXPECT_EQ(result, 0) << "10: unreadable, 11-13: set with flags 0/REPLACE/CREATE, 14: removed, "
                                "15: set on a file";
        EXPECT_EQ(get_xattr(t().mnt(), knob.name), knob.value) << "changed by someone else than root";
    }
    expect_nothing_reached_the_backing("f");
}

TEST_F(TunablesAccessTest, StatisticsAreRefusedToEveryone) {
    open_to_everyone("f");
    auto names = list_xattrs(t().mnt());
    ASSERT_TRUE(names.has_value());
    const std::vector<Knob> knobs = discover_knobs();
    std::size_t statistics = 0;
    for (const std::string& name : *names) {
        if (!name.starts_with(kStatPrefix)) continue;
        if (std::any_of(knobs.begin(), knobs.end(), [&](const Knob& k) { return k.name == name; })) continue;
        ++statistics;
        EXPECT_EQ(set_xattr(t().mnt(), name, "0"), EPERM) << name;
        EXPECT_EQ(remove_attr(t().mnt(), name), EPERM) << name;
        EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return set_xattr(t().mnt(), name, "0"); }), EPERM) << name;
    }
    EXPECT_GE(statistics, 10u);
    expect_nothing_reached_the_backing("f");
}

TEST_F(TunablesAccessTest, UnknownNamesAreRefusedAndNeverWritten) {
    open_to_everyone("f");
    for (const std::string& name : unknown_names()) {
        SCOPED_TRACE(testing::PrintToString(name));
        for (const std::string& path : {t().mnt(), m("f")}) {
            for (int flags : {0, int{XATTR_CREATE}, int{XATTR_REPLACE}}) {
                EXPECT_EQ(set_with_flags(path, name, "1", flags), EINVAL) << path << " flags " << flags;
            }
            int err = 0;
            EXPECT_FALSE(get_xattr(path, name, &err).has_value()) << path;
            EXPECT_EQ(err, ENODATA) << path;
            EXPECT_EQ(remove_attr(path, name), ENODATA) << path;
            int as_nobody = run_as(kNobody, kNogroup, [&] {
                if (set_with_flags(path, name, "1", 0) != EINVAL) return 10;
                if (remove_attr(path, name) != ENODATA) return 11;
                return 0;
            });
            EXPECT_EQ(as_nobody, 0) << path << " 10: set not refused with EINVAL, 11: remove not ENODATA";
        }
    }
    // The kernel refuses names longer than XATTR_NAME_MAX before the daemon
    // sees them, as on the backing directory.
    const std::string too_long = attr(std::string(256, 'n'));
    EXPECT_EQ(set_with_flags(m("f"), too_long, "1", 0), ERANGE);
    EXPECT_EQ(set_with_flags(b("f"), too_long, "1", 0), ERANGE);
    expect_nothing_reached_the_backing("f");
    auto listed = list_xattrs(m("f"));
    ASSERT_TRUE(listed.has_value());
    for (const std::string& name : unknown_names()) {
        EXPECT_EQ(std::find(listed->begin(), listed->end(), name), listed->end()) << name;
    }
}

class TunablesWithoutCacheTest : public TunablesAccessTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        spec.options += ",mode=none";
        return spec;
    }
};

TEST_F(TunablesWithoutCacheTest, EverySetIsRefusedAndNothingIsWritten) {
    open_to_everyone("f");
    std::vector<std::string> names = unknown_names();
    for (const char* knob : {"cache_mode", "writeback_percent", "promote", "flush", "cached_bytes"}) {
        names.push_back(attr(knob));
    }
    for (const std::string& name : names) {
        SCOPED_TRACE(testing::PrintToString(name));
        for (const std::string& path : {t().mnt(), m("f")}) {
            EXPECT_EQ(set_xattr(path, name, "1"), ENOTSUP) << path;
            EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return set_xattr(path, name, "1"); }), ENOTSUP) << path;
            EXPECT_EQ(remove_attr(path, name), ENOTSUP) << path;
        }
    }
    EXPECT_EQ(get_xattr(t().mnt(), attr("cache_mode")), "none");
    expect_nothing_reached_the_backing("f");
}

}  // namespace
}  // namespace bcl::test
