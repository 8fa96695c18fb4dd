// End-to-end: the cache statistics as extended attributes. The mount root
// offers every statistic (user.bcachefs_lite.<name>) and all of them at once
// (user.bcachefs_lite.stats, name=value lines); every file offers
// user.bcachefs_lite.cached_bytes. They are read-only for everyone, never
// reach the backing files, and leave the backing files' own attributes
// working; getfattr shows them as users would ask for them.
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <sstream>
#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

using StatsXattrTest = CacheMountTest;

std::string full(const std::string& name) { return std::string(kStatPrefix) + name; }

bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::string getfattr_program() {
    for (const char* path : {"/usr/bin/getfattr", "/bin/getfattr", "/usr/local/bin/getfattr"}) {
        if (::access(path, X_OK) == 0) return path;
    }
    return {};
}

// Caches a 4 MiB file (by reading it through the mount), checks that the
// root lists `name`, and reads it, again while it fails with EAGAIN (as the
// bucket counts do during a GC pass); nullopt with err set otherwise.
class BucketCountsTest : public StatsXattrTest {
protected:
    std::optional<std::string> read_after_caching_a_file(const std::string& name, unsigned seed, int& err) {
        std::mt19937_64 rng(seed);
        EXPECT_TRUE(write_file(b("f"), random_bytes(rng, 4 << 20)));
        EXPECT_EQ(read_file(m("f")).value_or("").size(), 4u << 20);
        auto names = list_xattrs(t().mnt());
        EXPECT_TRUE(names && contains(*names, full(name))) << name << " is not listed";
        std::optional<std::string> text;
        wait_until([&] { return (text = get_xattr(t().mnt(), full(name), &err)) || err != EAGAIN; });
        return text;
    }
};

TEST_F(StatsXattrTest, RootOffersEveryStatisticAsADecimalNumber) {
    for (const std::string& name : root_stat_names()) {
        int err = 0;
        auto text = get_xattr(t().mnt(), full(name), &err);
        ASSERT_TRUE(text.has_value()) << name << ": " << std::strerror(err);
        EXPECT_TRUE(parse_stat(*text).has_value()) << name << " = '" << *text << "'";
    }
    // A fresh cache has read nothing yet and has room.
    Stats s = stats();
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_EQ(s["cache_hits"], 0u);
    EXPECT_EQ(s["cache_misses"], 0u);
    EXPECT_EQ(s["cache_hit_ratio"], 0u);
    EXPECT_EQ(s["bytes_read_cache"], 0u);
    EXPECT_EQ(s["bytes_read_backing"], 0u);
    EXPECT_GT(s["buckets_total"], 0u);
    EXPECT_EQ(s["offline_reads"], 0u);
    EXPECT_EQ(s["backing_offline"], 0u) << "the backing directory answers";
    EXPECT_GT(s["buckets_free"], 0u);
    EXPECT_LE(s["buckets_free"], s["buckets_total"]);
    EXPECT_GT(s["cache_available_percent"], 0u);
    EXPECT_LE(s["cache_available_percent"], 100u);
}

TEST_F(StatsXattrTest, StatsAttributeHoldsEveryStatisticAsNameValueLines) {
    std::mt19937_64 rng(1);
    put_backing("f", random_bytes(rng, 300000));
    expect_all_read_back();
    expect_all_read_back();
    Stats s = stats();
    ASSERT_TRUE(s.ok()) << s.error();
    for (const std::string& name : root_stat_names()) EXPECT_TRUE(s.has(name)) << name << " missing in:\n" << s.text();
    // Nothing reads between these calls: the counters of reads agree with
    // the single attributes.
    for (const char* name : {"cache_hits", "cache_misses", "bytes_read_cache", "bytes_read_backing"}) {
        EXPECT_EQ(stat_xattr(t().mnt(), name), s[name]) << name;
    }
    ASSERT_GT(s["cache_hits"], 0u);
    ASSERT_GT(s["cache_misses"], 0u);
    EXPECT_EQ(s["cache_hit_ratio"], s["cache_hits"] * 100 / (s["cache_hits"] + s["cache_misses"]));
    EXPECT_LE(s["buckets_free"], s["buckets_total"]);
    EXPECT_EQ(s["cache_available_percent"], s["buckets_free"] * 100 / s["buckets_total"]);
}

TEST_F(StatsXattrTest, ListxattrOnTheRootNamesThemBesideTheBackingAttributes) {
    ASSERT_EQ(::setxattr(t().backing().c_str(), "user.color", "blue", 4, 0), 0) << std::strerror(errno);
    ASSERT_EQ(::setxattr(t().mnt().c_str(), "user.tag", "t", 1, 0), 0) << std::strerror(errno);
    auto names = list_xattrs(t().mnt());
    ASSERT_TRUE(names.has_value()) << std::strerror(errno);
    for (const std::string& name : root_stat_names()) EXPECT_TRUE(contains(*names, full(name))) << name;
    EXPECT_TRUE(contains(*names, full("stats")));
    EXPECT_TRUE(contains(*names, "user.color"));
    EXPECT_TRUE(contains(*names, "user.tag"));
    // The size query agrees with the list.
    std::size_t bytes = 0;
    for (const auto& name : *names) bytes += name.size() + 1;
    EXPECT_EQ(::listxattr(t().mnt().c_str(), nullptr, 0), static_cast<ssize_t>(bytes));
    // The backing directory's own attributes still work both ways.
    EXPECT_EQ(get_xattr(t().mnt(), "user.color"), "blue");
    EXPECT_EQ(get_xattr(t().backing(), "user.tag"), "t");
    ASSERT_EQ(::removexattr(t().mnt().c_str(), "user.color"), 0) << std::strerror(errno);
    int err = 0;
    EXPECT_FALSE(get_xattr(t().backing(), "user.color", &err).has_value());
    EXPECT_EQ(err, ENODATA);
    // The statistics are the mount's, not the backing directory's.
    auto backing_names = list_xattrs(t().backing());
    ASSERT_TRUE(backing_names.has_value());
    for (const auto& name : *backing_names) EXPECT_NE(name.rfind(std::string(kStatPrefix), 0), 0u) << name;
}

TEST_F(StatsXattrTest, EveryFileShowsItsCachedBytes) {
    std::mt19937_64 rng(2);
    put_backing("f", random_bytes(rng, 100000));
    put_backing("empty", "");
    auto before = cached_bytes(m("f"));
    ASSERT_TRUE(before.has_value()) << std::strerror(errno);
    EXPECT_EQ(*before, 0u) << "nothing was read yet";
    expect_all_read_back();
    auto after = cached_bytes(m("f"));
    ASSERT_TRUE(after.has_value()) << std::strerror(errno);
    EXPECT_GE(*after, 100000u) << "the whole file was read into a cache with room for it";
    EXPECT_LE(*after, (100000u + 4095) / 4096 * 4096);
    EXPECT_EQ(cached_bytes(m("empty")), 0u);
    // The backing file carries nothing of it.
    int err = 0;
    EXPECT_FALSE(get_xattr(b("f"), full("cached_bytes"), &err).has_value());
    EXPECT_EQ(err, ENODATA);
}

TEST_F(StatsXattrTest, CachedBytesIsListedOnFiles) {
    ASSERT_TRUE(write_file(b("f"), "some data"));
    ASSERT_EQ(::setxattr(b("f").c_str(), "user.own", "1", 1, 0), 0);
    auto names = list_xattrs(m("f"));
    ASSERT_TRUE(names.has_value()) << std::strerror(errno);
    EXPECT_TRUE(contains(*names, full("cached_bytes")));
    EXPECT_TRUE(contains(*names, "user.own"));
    std::string getfattr = getfattr_program();
    if (getfattr.empty()) return;  // the listing above is what getfattr would use
    RunResult r = run_program({getfattr, "-d", "-m", "^user.bcachefs_lite", m("f")});
    EXPECT_TRUE(r.exited_with(0)) << r.err;
    EXPECT_NE(r.err.find(full("cached_bytes") + "="), std::string::npos) << r.err;
}

TEST_F(StatsXattrTest, StatisticsAreReadOnlyAndNeverReachTheBackingFiles) {
    ASSERT_TRUE(write_file(b("f"), "data"));
    std::vector<std::string> names = root_stat_names();
    names.push_back("stats");
    for (const std::string& name : names) {
        SCOPED_TRACE(name);
        EXPECT_EQ(::setxattr(t().mnt().c_str(), full(name).c_str(), "7", 1, 0), -1);
        EXPECT_EQ(errno, EPERM);
        EXPECT_EQ(::setxattr(t().mnt().c_str(), full(name).c_str(), "7", 1, XATTR_REPLACE), -1);
        EXPECT_EQ(errno, EPERM);
        EXPECT_EQ(::removexattr(t().mnt().c_str(), full(name).c_str()), -1);
    }
    EXPECT_EQ(::setxattr(m("f").c_str(), full("cached_bytes").c_str(), "7", 1, 0), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(::removexattr(m("f").c_str(), full("cached_bytes").c_str()), -1);
    EXPECT_EQ(stat_xattr(t().mnt(), "cache_hits"), 0u) << "a refused set changed nothing";
    EXPECT_EQ(cached_bytes(m("f")), 0u);

    // An unknown name under the prefix: no value, and setting it fails.
    for (const std::string& path : {t().mnt(), m("f")}) {
        SCOPED_TRACE(path);
        int err = 0;
        EXPECT_FALSE(get_xattr(path, full("no_such_statistic"), &err).has_value());
        EXPECT_EQ(err, ENODATA);
        EXPECT_EQ(::setxattr(path.c_str(), full("no_such_statistic").c_str(), "1", 1, 0), -1);
        EXPECT_FALSE(get_xattr(path, full("no_such_statistic"), &err).has_value());
        EXPECT_EQ(err, ENODATA);
    }
    // Nothing of it reached the backing files.
    for (const std::string& path : {t().backing(), b("f")}) {
        auto listed = list_xattrs(path);
        ASSERT_TRUE(listed.has_value());
        for (const auto& name : *listed) EXPECT_NE(name.rfind(std::string(kStatPrefix), 0), 0u) << path << " " << name;
    }

    // Readable by everyone, writable by no one.
    int as_nobody = run_as(kNobody, kNogroup, [&] {
        auto hits = stat_xattr(t().mnt(), "cache_hits");
        if (!hits) return 10;
        if (!Stats::read(t().mnt()).ok()) return 11;
        if (!cached_bytes(m("f"))) return 12;
        if (::setxattr(t().mnt().c_str(), full("cache_hits").c_str(), "9", 1, 0) == 0) return 13;
        return 0;
    });
    EXPECT_EQ(as_nobody, 0);
    EXPECT_EQ(stat_xattr(t().mnt(), "cache_hits"), 0u);
}

TEST_F(StatsXattrTest, GetfattrShowsTheStatistics) {
    std::string getfattr = getfattr_program();
    if (getfattr.empty()) GTEST_SKIP() << "getfattr (package attr) is not installed";
    ASSERT_TRUE(write_file(b("f"), "data"));
    ASSERT_EQ(read_file(m("f")), "data");
    ASSERT_EQ(read_file(m("f")), "data");
    RunResult r = run_program({getfattr, "-d", "-m", "^user.bcachefs_lite", t().mnt()});
    ASSERT_TRUE(r.exited_with(0)) << r.err;
    for (const std::string& name : root_stat_names()) {
        EXPECT_NE(r.err.find(full(name) + "=\""), std::string::npos) << name << " missing in:\n" << r.err;
    }
    EXPECT_NE(r.err.find(full("stats") + "="), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(full("cache_hits") + "=\"0\""), std::string::npos) << "the second read was a hit\n" << r.err;
}

TEST_F(BucketCountsTest, DevicesShowsTheOneCacheDeviceWorking) {
    int err = 0;
    const std::optional<std::string> text = read_after_caching_a_file("devices", 32, err);
    ASSERT_TRUE(text) << "errno " << err;
    std::istringstream in(*text);
    std::string header, line, rest;
    ASSERT_TRUE(std::getline(in, header)) << *text;
    EXPECT_EQ(header.rfind("dev  state    io_errors  unused  clean", 0), 0u) << *text;
    ASSERT_TRUE(std::getline(in, line)) << *text;
    EXPECT_EQ(line.rfind("0    working  0 ", 0), 0u) << *text;
    EXPECT_NE(line.find(t().cache_path()), std::string::npos) << *text;
    EXPECT_FALSE(std::getline(in, rest)) << "one device, one line\n" << *text;
    // What was just read is cached: not every bucket is unused.
    std::istringstream fields(line);
    std::string dev, state, errors, unused;
    fields >> dev >> state >> errors >> unused;
    EXPECT_LT(std::stoull(unused), 100u) << *text;
}

TEST_F(BucketCountsTest, PriorityStatsShowsTheBucketsByMarkAndAge) {
    int err = 0;
    const std::optional<std::string> text = read_after_caching_a_file("priority_stats", 31, err);
    ASSERT_TRUE(text) << "errno " << err;
    std::istringstream in(*text);
    std::map<std::string, std::string> fields;
    for (std::string line; std::getline(in, line);) {
        const auto colon = line.find(':');
        ASSERT_NE(colon, std::string::npos) << line;
        fields[line.substr(0, colon)] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    std::uint64_t sum = 0;
    for (const char* mark : {"Unused", "Clean", "Dirty", "Pinned"}) {
        ASSERT_TRUE(fields.count(mark)) << *text;
        ASSERT_EQ(fields[mark].back(), '%') << *text;
        sum += std::stoull(fields[mark]);
    }
    // Four percentages each rounded down.
    EXPECT_LE(sum, 100u);
    EXPECT_GE(sum, 97u);
    EXPECT_GT(std::stoull(fields["Clean"]), 0u) << "4 MiB were just cached\n" << *text;
    ASSERT_TRUE(fields.count("Quantiles")) << *text;
    std::istringstream q(fields["Quantiles"].substr(1, fields["Quantiles"].size() - 2));
    int quantiles = 0;
    for (std::uint64_t v; q >> v;) ++quantiles;
    EXPECT_EQ(quantiles, 31) << *text;
}

}  // namespace
}  // namespace bcl::test
