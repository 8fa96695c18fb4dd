// The fixture of the end-to-end tests: a fresh TestMount per test, skipped
// with the reason when this machine cannot mount FUSE file systems.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "test_mount.h"

namespace bcl::test {

class MountedTest : public testing::Test {
protected:
    // Mount options for this fixture; timeouts 0 so that every comparison
    // sees the backing directory as it is.
    virtual std::string mount_options() const {
        return "allow_other,default_permissions,entry_timeout=0,attr_timeout=0";
    }

    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        mount_ = std::make_unique<TestMount>(mount_options());
        ASSERT_TRUE(mount_->mounted()) << mount_->error();
    }
    void TearDown() override { mount_.reset(); }

    TestMount& t() { return *mount_; }
    std::string b(const std::string& rel) { return mount_->b(rel); }
    std::string m(const std::string& rel) { return mount_->m(rel); }

    // lstat of `rel` through the mount and in the backing directory agree on
    // everything a passthrough must keep.
    void expect_same_stat(const std::string& rel) {
        struct stat ms {
        }, bs{};
        ASSERT_EQ(::lstat(m(rel).c_str(), &ms), 0) << rel << ": " << std::strerror(errno);
        ASSERT_EQ(::lstat(b(rel).c_str(), &bs), 0) << rel << ": " << std::strerror(errno);
        EXPECT_EQ(ms.st_mode, bs.st_mode) << rel;
        EXPECT_EQ(ms.st_uid, bs.st_uid) << rel;
        EXPECT_EQ(ms.st_gid, bs.st_gid) << rel;
        EXPECT_EQ(ms.st_size, bs.st_size) << rel;
        EXPECT_EQ(ms.st_nlink, bs.st_nlink) << rel;
        EXPECT_EQ(ms.st_ino, bs.st_ino) << rel;
        EXPECT_EQ(ms.st_mtim.tv_sec, bs.st_mtim.tv_sec) << rel;
        EXPECT_EQ(ms.st_mtim.tv_nsec, bs.st_mtim.tv_nsec) << rel;
        if (S_ISCHR(bs.st_mode) || S_ISBLK(bs.st_mode)) {
            EXPECT_EQ(ms.st_rdev, bs.st_rdev) << rel;
        }
    }

    std::unique_ptr<TestMount> mount_;
};

}  // namespace bcl::test
