// End-to-end: the cache device fails underneath a live mount. The cache is
// a loop device over a sparse image; truncating the image to nothing and
// telling the loop device (losetup -c) makes every later read of it come up
// short and every write fail with ENOSPC. Reads of clean data keep working
// from the backing files, the mount goes to passthrough once
// io_error_limit errors are counted, dirty data that cannot be read is EIO
// (never the older backing bytes), and the mount unmounts cleanly. Needs
// root, /dev/fuse and a free loop device; skips with the reason otherwise.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <map>
#include <random>

#include "cache_e2e.h"
#include "image_loop.h"

namespace bcl::test {
namespace {

class FailingCacheTest : public testing::Test {
protected:
    // Mode and other options of the mount.
    virtual std::string extra_options() const { return "io_error_limit=4"; }

    void SetUp() override {
        std::string why;
        const auto outcome = cache_.start(
            64 << 20, "64k", "allow_other,default_permissions,entry_timeout=0,attr_timeout=0," + extra_options(), why);
        if (outcome == LoopCacheMount::Outcome::skip) GTEST_SKIP() << why;
        ASSERT_EQ(outcome, LoopCacheMount::Outcome::mounted) << why;
        mount_ = cache_.mount.get();
        loop_ = cache_.loop.get();
    }

    std::string b(const std::string& rel) { return mount_->b(rel); }
    std::string m(const std::string& rel) { return mount_->m(rel); }
    std::string state() { return get_xattr(mount_->mnt(), attr("state")).value_or("?"); }
    Stats stats() { return Stats::read(mount_->mnt()); }
    // Polls `state` until it reads `want`, at most kExitTimeout (the move
    // to passthrough comes from the daemon's background thread; nothing
    // notifies of it).
    bool wait_for_state(const std::string& want) {
        return wait_until([&] { return state() == want; });
    }
    // Reads `rel` through the mount with O_DIRECT (every byte reaches the
    // daemon) and expects `want`.
    void expect_reads(const std::string& rel, const std::string& want) {
        int err = 0;
        auto got = read_whole(m(rel), /*direct=*/true, &err);
        ASSERT_TRUE(got.has_value()) << rel << ": " << std::strerror(err);
        EXPECT_TRUE(*got == want) << rel << " differs from what was written";
    }

    LoopCacheMount cache_;
    TestMount* mount_ = nullptr;
    ImageLoop* loop_ = nullptr;
};

TEST_F(FailingCacheTest, ReadsKeepWorkingAndTheMountGoesToPassthrough) {
    std::mt19937_64 rng(11);
    std::map<std::string, std::string> files;
    for (const char* name : {"a", "b", "c", "d"}) {
        files[name] = random_bytes(rng, 300000);
        ASSERT_TRUE(write_file(b(name), files[name]));
    }
    for (int i = 0; i < 2; ++i)
        for (const auto& [name, data] : files) expect_reads(name, data);
    for (const auto& [name, data] : files) EXPECT_EQ(cached_bytes(m(name)), data.size()) << name;
    EXPECT_EQ(state(), "running");
    EXPECT_EQ(stat_xattr(mount_->mnt(), "io_errors"), 0u);

    ASSERT_EQ(loop_->shrink("0"), "");
    // Every read is right; the errors they meet take the cache out.
    for (int round = 0; round < 20 && state() == "running"; ++round)
        for (const auto& [name, data] : files) expect_reads(name, data);
    ASSERT_TRUE(wait_for_state("passthrough")) << state() << "\n" << mount_->daemon_log();
    Stats s = stats();
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_GE(s["io_errors"], 4u);
    EXPECT_GT(s["cache_read_errors"], 0u);
    EXPECT_EQ(s["dirty_data"], 0u);

    // Passthrough: reads and writes go to the backing files.
    const std::uint64_t read_errors = s["cache_read_errors"];
    for (const auto& [name, data] : files) expect_reads(name, data);
    const std::string patch = random_bytes(rng, 10000);
    {
        const int fd = ::open(m("a").c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0) << std::strerror(errno);
        ASSERT_EQ(::pwrite(fd, patch.data(), patch.size(), 5000), static_cast<ssize_t>(patch.size()));
        EXPECT_EQ(::fsync(fd), 0) << std::strerror(errno);
        ::close(fd);
    }
    files["a"].replace(5000, patch.size(), patch);
    expect_reads("a", files["a"]);
    EXPECT_EQ(read_file(b("a")), files["a"]);
    ASSERT_TRUE(write_file(m("new"), patch));
    expect_reads("new", patch);
    EXPECT_EQ(read_file(b("new")), patch);
    EXPECT_EQ(stats()["cache_read_errors"], read_errors) << "the cache device is not read any more";

    const std::string log = mount_->daemon_log();
    EXPECT_NE(log.find("out of service"), std::string::npos) << log;
    EXPECT_NE(log.find("is in passthrough"), std::string::npos) << log;
    auto status = mount_->stop();
    ASSERT_TRUE(status.has_value()) << "the daemon did not exit";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << mount_->daemon_log();
}

class FailingWritebackTest : public FailingCacheTest {
protected:
    std::string extra_options() const override { return "io_error_limit=4,mode=writeback,writeback_delay=3600"; }
};

TEST_F(FailingWritebackTest, DirtyDataThatWasLostIsEioNeverTheOlderBackingData) {
    std::mt19937_64 rng(12);
    const std::string old = random_bytes(rng, 65536);
    ASSERT_TRUE(write_file(b("f"), old));
    const std::string fresh = random_bytes(rng, 65536);
    {
        const int fd = ::open(m("f").c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0) << std::strerror(errno);
        ASSERT_EQ(::pwrite(fd, fresh.data(), fresh.size(), 0), static_cast<ssize_t>(fresh.size()));
        ASSERT_EQ(::fsync(fd), 0) << std::strerror(errno);
        ::close(fd);
    }
    ASSERT_EQ(dirty_bytes(m("f")), fresh.size());
    expect_reads("f", fresh);
    ASSERT_EQ(read_file(b("f")), old) << "written back already";

    ASSERT_EQ(loop_->shrink("0"), "");
    for (int round = 0; round < 20 && state() == "running"; ++round) {
        int err = 0;
        auto got = read_whole(m("f"), /*direct=*/true, &err);
        ASSERT_FALSE(got.has_value() && *got == old) << "the older backing data was returned";
        ASSERT_FALSE(got.has_value()) << "lost dirty data was read";
        EXPECT_EQ(err, EIO) << std::strerror(err);
    }
    ASSERT_TRUE(wait_for_state("passthrough")) << state() << "\n" << mount_->daemon_log();
    int err = 0;
    EXPECT_FALSE(read_whole(m("f"), /*direct=*/true, &err).has_value());
    EXPECT_EQ(err, EIO);
    EXPECT_EQ(stat_xattr(mount_->mnt(), "dirty_data"), fresh.size());
    EXPECT_EQ(read_file(b("f")), old);
    // No write-back on this mount can take what could not be read: flush
    // says so at once instead of waiting for it.
    RunResult flush = run_flush_command(mount_->mnt());
    EXPECT_TRUE(flush.exited_with(1)) << flush.err;
    EXPECT_NE(flush.err.find("out of service (state passthrough)"), std::string::npos) << flush.err;
    EXPECT_EQ(read_file(b("f")), old);
    const std::string log = mount_->daemon_log();
    EXPECT_NE(log.find(std::to_string(fresh.size()) + " bytes of dirty data could not be read"), std::string::npos)
        << log;
    // Other files work through the backing directory, dirty or not.
    const std::string other = random_bytes(rng, 20000);
    ASSERT_TRUE(write_file(m("g"), other));
    expect_reads("g", other);
    EXPECT_EQ(read_file(b("g")), other);
    EXPECT_EQ(stat_xattr(mount_->mnt(), "dirty_data"), fresh.size());
    auto status = mount_->stop();
    ASSERT_TRUE(status.has_value()) << "the daemon did not exit";
}

// The knobs and the state on an ordinary mount.
class IoErrorKnobTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        spec.options += ",io_error_limit=20,io_error_halflife=8800";
        return spec;
    }
    std::optional<std::string> knob(const std::string& name) { return get_xattr(t().mnt(), attr(name)); }
    int set_knob(const std::string& name, const std::string& value) { return set_xattr(t().mnt(), attr(name), value); }
};

TEST_F(IoErrorKnobTest, TheMountOptionsShowAndRootAloneChangesThem) {
    EXPECT_EQ(knob("state"), "running");
    EXPECT_EQ(knob("io_error_limit"), "20");
    EXPECT_EQ(knob("io_error_halflife"), "8800");
    auto names = list_xattrs(t().mnt());
    ASSERT_TRUE(names.has_value());
    for (const char* name : {"state", "io_error_limit", "io_error_halflife", "io_errors"})
        EXPECT_NE(std::find(names->begin(), names->end(), attr(name)), names->end()) << name;
    Stats s = stats();
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_EQ(s["io_errors"], 0u);
    EXPECT_FALSE(s.has("state")) << "the listing holds numbers only";

    EXPECT_EQ(set_knob("io_error_limit", "3\n"), 0) << "a trailing newline is not part of the value";
    EXPECT_EQ(knob("io_error_limit"), "3");
    EXPECT_EQ(set_knob("io_error_halflife", "1000"), 0);
    EXPECT_EQ(knob("io_error_halflife"), "968") << "a multiple of 88, as bcache keeps it";
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{{"io_error_limit", "many"},
                                                                                      {"io_error_limit", "-1"},
                                                                                      {"io_error_limit", ""},
                                                                                      {"io_error_limit", "4294967296"},
                                                                                      {"io_error_halflife", "1.5"}})
        EXPECT_EQ(set_knob(name, value), EINVAL) << name << "=" << value;
    EXPECT_EQ(knob("io_error_limit"), "3");
    EXPECT_EQ(knob("io_error_halflife"), "968");
    EXPECT_EQ(set_knob("state", "passthrough"), EPERM);
    EXPECT_EQ(set_knob("io_errors", "0"), EPERM);

    ASSERT_EQ(::chmod(t().mnt().c_str(), 0777), 0) << std::strerror(errno);
    int as_nobody = run_as(kNobody, kNogroup, [&] {
        if (get_xattr(t().mnt(), attr("io_error_limit")) != "3") return 10;
        if (set_xattr(t().mnt(), attr("io_error_limit"), "9") != EPERM) return 11;
        if (set_xattr(t().mnt(), attr("io_error_halflife"), "0") != EPERM) return 12;
        return 0;
    });
    EXPECT_EQ(as_nobody, 0) << "10: unreadable, 11-12: a knob set by someone else than root";
    EXPECT_EQ(knob("io_error_limit"), "3");
    EXPECT_EQ(knob("state"), "running");
}

}  // namespace
}  // namespace bcl::test
