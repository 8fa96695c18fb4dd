// End-to-end: bcachefs-lite in front of a slow, counting FUSE backing of
// our own (slow_backing/slowfs.cc), as in front of sshfs: the cache's own
// statistics list and read over a backing without extended attributes, a
// warm read makes no backing read, and the fixture's switches work.
#include <sys/xattr.h>

#include <thread>

#include "slow_backing.h"

namespace bcl::test {
namespace {

TEST_F(SlowBackingTest, TheCachesStatisticsListAndReadOverABackingWithoutXattrs) {
    mount_both("noxattr");
    // The backing itself has none.
    EXPECT_LT(::listxattr(mount_->backing().c_str(), nullptr, 0), 0);
    EXPECT_EQ(errno, ENOTSUP);
    auto names = list_xattrs(mount_->mnt());
    ASSERT_TRUE(names.has_value()) << std::strerror(errno);
    EXPECT_NE(std::find(names->begin(), names->end(), attr("stats")), names->end());
    EXPECT_TRUE(get_xattr(mount_->mnt(), attr("stats")).has_value());
    // As a user would list them.
    RunResult r = run_program({"getfattr", "-d", "-m", "user.bcachefs_lite", mount_->mnt()});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_NE(r.err.find("user.bcachefs_lite.stats"), std::string::npos) << r.err;
    // A file's own attributes: none, and no error.
    auto file_names = list_xattrs(mount_->m("f"));
    ASSERT_TRUE(file_names.has_value());
}

TEST_F(SlowBackingTest, AWarmReadMakesNoBackingRead) {
    mount_both("latency_us=200");
    ASSERT_EQ(read_file(mount_->m("f"))->size(), 300000u);
    const unsigned long reads = slow_->counters()["read"];
    EXPECT_GT(reads, 0u);
    ASSERT_EQ(read_file(mount_->m("f"))->size(), 300000u);
    EXPECT_EQ(slow_->counters()["read"], reads) << "the second read was served from the cache";
}

// True once `condition` holds (a switch is a signal, which the fixture
// handles when it gets to it), within 10 s.
bool wait_until(const std::function<bool()>& condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

TEST_F(SlowBackingTest, TheFixtureCutsOffAndComesBack) {
    mount_both("");
    const std::string f = mount_->backing() + "/f";
    slow_->cut_off();
    EXPECT_TRUE(wait_until([&] { return !read_file(f).has_value() && errno == ENOTCONN; }));
    slow_->bring_back();
    EXPECT_TRUE(wait_until([&] { return read_file(f).has_value(); }));
    EXPECT_EQ(read_file(f).value_or("").size(), 300000u);
    EXPECT_GT(slow_->counters()["open"], 0u);
}

}  // namespace
}  // namespace bcl::test
