// End-to-end: mode=none serves the backing files without the cache. Reads
// and writes are correct, the statistics show no cache activity, and the
// cache file is never written (its checksum is unchanged after a mount,
// reads, writes and an unmount). The root still says cache_mode=none, and
// nothing can change it or flush without the cache.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

class ModeNoneTest : public CacheMountTest {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
        MountSpec spec = CacheMountTest::mount_spec();
        spec.options += ",mode=none";
        spec.cache_size = "";
        mount_ = std::make_unique<TestMount>(spec, TestMount::Deferred{});
        ASSERT_TRUE(mount_->error().empty()) << mount_->error();
        ASSERT_EQ(format_cache(t().cache_path(), "64M"), "");
        cache_before_ = file_sum(t().cache_path());
        ASSERT_GT(cache_before_.size, 0);
    }

    FileSum cache_before_;
};

// The statistic `name` is absent or 0.
void expect_no_activity(const std::string& mnt, const std::string& name) {
    int err = 0;
    auto value = get_xattr(mnt, std::string(kStatPrefix) + name, &err);
    if (!value) {
        EXPECT_EQ(err, ENODATA) << name;
        return;
    }
    EXPECT_EQ(parse_stat(*value), 0u) << name;
}

TEST_F(ModeNoneTest, ReadsAndWritesAreCorrectAndTheCacheIsNeverWritten) {
    std::mt19937_64 rng(91);
    for (std::size_t size :
         {std::size_t{0}, std::size_t{1}, std::size_t{4097}, std::size_t{300000}, std::size_t{(3 << 20) + 5}}) {
        put_backing("f" + std::to_string(size), random_bytes(rng, size));
    }
    ASSERT_TRUE(t().start()) << t().error();
    for (int pass = 0; pass < 3; ++pass) expect_all_read_back(pass == 1);

    std::string written = random_bytes(rng, 123456);
    ASSERT_TRUE(write_file(m("written"), written));
    expected_["written"] = written;
    EXPECT_EQ(read_file(b("written")), written);
    expect_all_read_back();

    for (const char* name : {"cache_hits", "cache_misses", "bytes_read_cache"}) expect_no_activity(t().mnt(), name);
    for (const auto& [rel, data] : expected_) {
        int err = 0;
        auto value = get_xattr(m(rel), std::string(kStatPrefix) + "cached_bytes", &err);
        if (value) {
            EXPECT_EQ(parse_stat(*value), 0u) << rel;
        } else {
            EXPECT_EQ(err, ENODATA) << rel;
        }
    }
    std::optional<int> status = t().stop();
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << t().daemon_log();
    EXPECT_EQ(file_sum(t().cache_path()), cache_before_) << "mode=none wrote to the cache file";
}

// A cache that served in writethrough is left as it was by a mode=none
// mount of the same cache and index, and is still warm afterwards.
TEST_F(ModeNoneTest, LeavesAWarmCacheAsItWas) {
    std::mt19937_64 rng(92);
    put_backing("f", random_bytes(rng, 500000));
    put_backing("g", random_bytes(rng, 4000));
    const MountSpec none = t().spec();
    MountSpec writethrough = none;
    writethrough.options = CacheMountTest::mount_spec().options;

    t().set_spec(writethrough);
    ASSERT_TRUE(t().start()) << t().error();
    expect_all_read_back();
    expect_all_read_back();
    std::optional<int> status = t().stop();
    ASSERT_TRUE(status.has_value());
    const FileSum warm = file_sum(t().cache_path());

    t().set_spec(none);
    ASSERT_TRUE(t().start()) << t().error();
    expect_all_read_back();
    expect_all_read_back(/*direct=*/true);
    expect_no_activity(t().mnt(), "cache_hits");
    status = t().stop();
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(file_sum(t().cache_path()), warm) << "mode=none wrote to the cache file";

    t().set_spec(writethrough);
    ASSERT_TRUE(t().start()) << t().error();
    expect_all_read_back();
    Stats s = stats();
    EXPECT_GT(s["cache_hits"], 0u) << s.text();
    EXPECT_EQ(s["cache_misses"], 0u) << s.text();
}

TEST_F(ModeNoneTest, TheRootSaysNoneAndNothingCanChangeIt) {
    ASSERT_TRUE(t().start()) << t().error();
    const std::string mode = std::string(kStatPrefix) + "cache_mode";
    EXPECT_EQ(get_xattr(t().mnt(), mode), "none");
    auto names = list_xattrs(t().mnt());
    ASSERT_TRUE(names.has_value());
    EXPECT_EQ(*names, std::vector<std::string>{mode}) << "the root offers cache_mode alone";
    int err = 0;
    EXPECT_FALSE(get_xattr(t().mnt(), std::string(kStatPrefix) + "dirty_data", &err).has_value());
    EXPECT_EQ(err, ENODATA);
    ASSERT_TRUE(write_file(b("f"), "data"));
    EXPECT_FALSE(get_xattr(m("f"), mode, &err).has_value()) << "cache_mode is the root's";
    // The mode cannot change without the cache: a remount can.
    for (const char* value : {"writethrough", "writeback", "none"}) {
        EXPECT_EQ(set_xattr(t().mnt(), mode, value), EOPNOTSUPP) << value;
    }
    EXPECT_EQ(set_xattr(t().mnt(), std::string(kStatPrefix) + "flush", "1"), EOPNOTSUPP);
    EXPECT_EQ(get_xattr(t().mnt(), mode), "none");

    RunResult r = run_flush_command(t().mnt());
    EXPECT_TRUE(r.exited_with(1)) << r.err;
    EXPECT_NE(r.err.find("mode=none"), std::string::npos) << r.err;
    std::optional<int> status = t().stop();
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(file_sum(t().cache_path()), cache_before_) << "mode=none wrote to the cache file";
}

}  // namespace
}  // namespace bcl::test
