// End-to-end: the cache as users mount it, with `mount -t fuse.bcachefs-lite`
// and an fstab line (daemon_cli_test.cc checks that these forms mount and
// serve; here they cache, with the index where the options put it, and
// show their statistics through getfattr). mount(8) runs its helpers with a
// fixed PATH, so these tests need the daemon installed in /usr/local/bin or
// /usr/bin and skip otherwise.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

class CacheMountCommandTest : public testing::Test {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        if (installed_daemon().empty()) {
            GTEST_SKIP() << "bcachefs-lite is not installed in /usr/local/bin or /usr/bin, where mount(8) "
                            "finds FUSE helpers (it runs them with a fixed PATH); install it to run this test";
        }
        if (::access("/sbin/mount.fuse3", X_OK) != 0 && ::access("/usr/sbin/mount.fuse3", X_OK) != 0) {
            GTEST_SKIP() << "mount.fuse3 (package fuse3) is not installed";
        }
        if (::access("/usr/bin/getfattr", X_OK) != 0) GTEST_SKIP() << "getfattr (package attr) is not installed";
        ASSERT_FALSE(dir_.path().empty());
        src_ = dir_.path() + "/src";
        mnt_ = dir_.path() + "/mnt";
        ASSERT_EQ(::mkdir(src_.c_str(), 0755), 0);
        ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
        std::mt19937_64 rng(61);
        data_ = random_bytes(rng, 200000);
        ASSERT_TRUE(write_file(src_ + "/file", data_));
    }
    void TearDown() override {
        if (!mnt_.empty() && is_mounted(mnt_)) unmount(mnt_);
    }

    std::string cache_options() const {
        return "cache=" + dir_.path() + "/cache.img,cache_size=64M,index=" + dir_.path() + "/index";
    }

    // The mount caches: the second read is a hit, getfattr shows the
    // statistics, the index is where index= put it; then umount.
    void expect_caching() {
        ASSERT_TRUE(is_mounted(mnt_));
        EXPECT_TRUE(read_file(mnt_ + "/file") == data_);
        EXPECT_TRUE(read_file(mnt_ + "/file") == data_);
        RunResult r = run_program({"/usr/bin/getfattr", "-d", "-m", "^user.bcachefs_lite", mnt_});
        EXPECT_TRUE(r.exited_with(0)) << r.err;
        for (const std::string& name : root_stat_names()) {
            EXPECT_NE(r.err.find(std::string(kStatPrefix) + name + "=\""), std::string::npos) << name << "\n" << r.err;
        }
        EXPECT_GT(stat_xattr(mnt_, "cache_hits").value_or(0), 0u);
        struct stat st {};
        EXPECT_EQ(::stat((dir_.path() + "/index").c_str(), &st), 0) << "no index where index= said";
        EXPECT_EQ(::stat((dir_.path() + "/cache.img").c_str(), &st), 0);
        RunResult u = run_program({"umount", mnt_});
        EXPECT_TRUE(u.exited_with(0)) << u.err;
        EXPECT_FALSE(is_mounted(mnt_));
        // The detached daemon closes its index after the unmount; wait for
        // that before the temporary directory goes.
        EXPECT_TRUE(wait_for_lock_released(dir_.path() + "/index/LOCK"));
    }

    TempDir dir_;
    std::string src_, mnt_, data_;
};

TEST_F(CacheMountCommandTest, MountDashTCachesAndShowsStats) {
    RunResult r =
        run_program({"mount", "-t", "fuse.bcachefs-lite", src_, mnt_, "-o", cache_options() + ",allow_other"});
    ASSERT_TRUE(r.exited_with(0)) << r.err;
    expect_caching();
}

TEST_F(CacheMountCommandTest, FstabLineCachesAndShowsStats) {
    std::string fstab = dir_.path() + "/fstab";
    {
        std::ofstream out(fstab);
        out << src_ << " " << mnt_ << " fuse.bcachefs-lite " << cache_options()
            << ",mode=writethrough,allow_other,nofail 0 0\n";
    }
    RunResult r = run_program({"mount", "--fstab", fstab, mnt_});
    ASSERT_TRUE(r.exited_with(0)) << r.err;
    expect_caching();
}

}  // namespace
}  // namespace bcl::test
