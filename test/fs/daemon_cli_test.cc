// End-to-end: the daemon's command line as users and mount(8) use it. Bad
// input gets one line on stderr, a non-zero exit, and changes nothing;
// without -f the daemon returns once the mount is ready; mount -t and fstab
// lines work once the daemon is installed where mount(8) looks for it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_mount.h"

namespace bcl::test {
namespace {

class DaemonCliTest : public testing::Test {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        ASSERT_FALSE(dir_.path().empty());
        src_ = dir_.path() + "/src";
        mnt_ = dir_.path() + "/mnt";
        cache_ = dir_.path() + "/cache.img";
        index_ = dir_.path() + "/index";
        ASSERT_EQ(::mkdir(src_.c_str(), 0755), 0);
        ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
        ASSERT_TRUE(write_file(src_ + "/file", "data"));
    }
    void TearDown() override {
        if (!mnt_.empty() && is_mounted(mnt_)) unmount(mnt_);
    }

    // The cache and its index, both inside the test's directory.
    std::string cache_opt() const { return "cache=" + cache_ + ",cache_size=64M,index=" + index_; }

    // The daemon refuses `args`: exit status 1, one line on stderr that
    // names the problem, nothing mounted, no cache file created.
    void expect_rejected(std::vector<std::string> args, const std::string& needle) {
        args.insert(args.begin(), daemon_path());
        RunResult r = run_program(args);
        SCOPED_TRACE(r.err);
        EXPECT_FALSE(r.timed_out);
        EXPECT_EQ(r.exit_code(), 1);
        ASSERT_FALSE(r.err.empty());
        EXPECT_EQ(r.err.rfind("bcachefs-lite: ", 0), 0u);
        EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "exactly one line";
        EXPECT_NE(r.err.find(needle), std::string::npos) << "should mention: " << needle;
        EXPECT_FALSE(is_mounted(mnt_));
        EXPECT_NE(::access(cache_.c_str(), F_OK), 0) << "the cache file must not be created";
        EXPECT_NE(::access(index_.c_str(), F_OK), 0) << "the index must not be created";
    }

    TempDir dir_;
    std::string src_, mnt_, cache_, index_;
};

TEST_F(DaemonCliTest, MissingArguments) {
    expect_rejected({}, "missing SOURCE and MOUNTPOINT");
    expect_rejected({src_}, "missing MOUNTPOINT");
    expect_rejected({"-o", cache_opt()}, "missing SOURCE");
}

TEST_F(DaemonCliTest, MissingCacheOption) { expect_rejected({src_, mnt_}, "cache="); }

TEST_F(DaemonCliTest, BadSource) {
    expect_rejected({dir_.path() + "/nowhere", mnt_, "-o", cache_opt()}, "does not exist");
    expect_rejected({src_ + "/file", mnt_, "-o", cache_opt()}, "is not a directory");
}

TEST_F(DaemonCliTest, BadMountpoint) {
    expect_rejected({src_, dir_.path() + "/nowhere", "-o", cache_opt()}, "does not exist");
    expect_rejected({src_, src_ + "/file", "-o", cache_opt()}, "is not a directory");
}

TEST_F(DaemonCliTest, UnknownOptionsAndImpossibleValues) {
    expect_rejected({src_, mnt_, "-o", cache_opt() + ",turbo"}, "unknown option 'turbo'");
    expect_rejected({src_, mnt_, "-q", "-o", cache_opt()}, "unknown command-line option '-q'");
    expect_rejected({src_, mnt_, "-o", cache_opt() + ",mode=fast"}, "mode");
    expect_rejected({src_, mnt_, "-o", cache_opt() + ",mode=writeback,writeback_percent=50"}, "writeback_percent");
    expect_rejected({src_, mnt_, "-o", cache_opt() + ",writeback_delay=soon"}, "writeback_delay");
    expect_rejected({src_, mnt_, "-o", cache_opt() + ",cutoff_writeback=80"}, "cutoff_writeback_sync");
    expect_rejected({src_, mnt_, "-o", cache_opt() + ",entry_timeout=-1"}, "entry_timeout");
    expect_rejected({src_, mnt_, "-o", "cache=" + cache_ + ",cache_size=12x,index=" + index_}, "cache_size");
}

TEST_F(DaemonCliTest, BadCache) {
    expect_rejected({src_, mnt_, "-o", "cache=" + cache_ + ",index=" + index_}, "does not exist");
    expect_rejected({src_, mnt_, "-o", "cache=" + dir_.path() + ",index=" + index_},
                    "neither a block device nor a regular file");
    expect_rejected({src_, mnt_, "-o", "cache=" + dir_.path() + "/no/such/dir/c.img,cache_size=1G,index=" + index_},
                    "does not exist");
    expect_rejected({src_, mnt_, "-o", "cache=" + mnt_ + "/c.img,cache_size=1G,index=" + index_},
                    "inside the mount point");
}

TEST_F(DaemonCliTest, MountpointInUseByAnotherMountOfOurs) {
    TestMount first;
    ASSERT_TRUE(first.mounted()) << first.error();
    std::vector<std::string> args = {daemon_path(), src_, first.mnt(), "-o", cache_opt()};
    RunResult r = run_program(args);
    EXPECT_EQ(r.exit_code(), 1) << r.err;
    EXPECT_EQ(r.err.rfind("bcachefs-lite: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("already"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("findmnt " + first.mnt()), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
    // The first mount still serves.
    EXPECT_TRUE(write_file(first.m("still"), "here"));
    EXPECT_EQ(read_file(first.b("still")), "here");
}

TEST_F(DaemonCliTest, HelpAndVersion) {
    RunResult help = run_program({daemon_path(), "--help"});
    EXPECT_TRUE(help.exited_with(0));
    EXPECT_NE(help.err.find("cache=PATH"), std::string::npos);
    EXPECT_NE(help.err.find("entry_timeout=SECONDS"), std::string::npos);
    RunResult version = run_program({daemon_path(), "-V"});
    EXPECT_TRUE(version.exited_with(0));
    EXPECT_EQ(version.err.rfind("bcachefs-lite ", 0), 0u) << version.err;
}

// Without -f the daemon detaches only once mounted: when it returns, the
// file system is there and serves.
TEST_F(DaemonCliTest, BackgroundDaemonReturnsWithTheMountReady) {
    RunResult r = run_program({daemon_path(), src_, mnt_, "-o", cache_opt() + ",allow_other"});
    ASSERT_TRUE(r.exited_with(0)) << r.err;
    EXPECT_EQ(r.err, "") << "nothing on stderr on success";
    ASSERT_TRUE(is_mounted(mnt_));
    EXPECT_EQ(read_file(mnt_ + "/file"), "data");
    ASSERT_TRUE(write_file(mnt_ + "/new", "via mount"));
    EXPECT_EQ(read_file(src_ + "/new"), "via mount");
    RunResult u = run_program({"umount", mnt_});
    EXPECT_TRUE(u.exited_with(0)) << u.err;
    EXPECT_FALSE(is_mounted(mnt_));
}

class MountCommandTest : public DaemonCliTest {
protected:
    void SetUp() override {
        DaemonCliTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        if (installed_daemon().empty()) {
            GTEST_SKIP() << "bcachefs-lite is not installed in /usr/local/bin or /usr/bin, where mount(8) "
                            "finds FUSE helpers (it runs them with a fixed PATH); install it to run this test";
        }
        if (::access("/sbin/mount.fuse3", X_OK) != 0 && ::access("/usr/sbin/mount.fuse3", X_OK) != 0) {
            GTEST_SKIP() << "mount.fuse3 (package fuse3) is not installed";
        }
    }

    void expect_serving() {
        ASSERT_TRUE(is_mounted(mnt_));
        EXPECT_EQ(read_file(mnt_ + "/file"), "data");
        ASSERT_TRUE(write_file(mnt_ + "/through-mount", "yes"));
        EXPECT_EQ(read_file(src_ + "/through-mount"), "yes");
        RunResult u = run_program({"umount", mnt_});
        EXPECT_TRUE(u.exited_with(0)) << u.err;
        EXPECT_FALSE(is_mounted(mnt_));
    }
};

TEST_F(MountCommandTest, MountDashT) {
    RunResult r = run_program({"mount", "-t", "fuse.bcachefs-lite", src_, mnt_, "-o", cache_opt() + ",allow_other"});
    ASSERT_TRUE(r.exited_with(0)) << r.err;
    expect_serving();
}

TEST_F(MountCommandTest, FstabLine) {
    std::string fstab = dir_.path() + "/fstab";
    {
        std::ofstream out(fstab);
        out << "# test fstab\n"
            << src_ << " " << mnt_ << " fuse.bcachefs-lite " << cache_opt()
            << ",allow_other,default_permissions,nofail,noatime 0 0\n";
    }
    RunResult r = run_program({"mount", "--fstab", fstab, mnt_});
    ASSERT_TRUE(r.exited_with(0)) << r.err;
    expect_serving();
}

TEST_F(MountCommandTest, MountDashTRejectsBadOptions) {
    RunResult r = run_program({"mount", "-t", "fuse.bcachefs-lite", src_, mnt_, "-o", cache_opt() + ",mode=fast"});
    EXPECT_NE(r.exit_code(), 0);
    EXPECT_NE(r.err.find("bcachefs-lite: "), std::string::npos) << r.err;
    EXPECT_FALSE(is_mounted(mnt_));
}

}  // namespace
}  // namespace bcl::test
