// bcachefs-lite-ctl flush without a mount: the command line, and paths that
// are not the root of a bcachefs-lite mount. (A flush of a real writeback
// mount is tested end to end in test/fs.)
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/xattr.h>

#include "common/temp_dir.h"
#include "ctl_runner.h"

namespace bcl::test {
namespace {

class CtlFlushTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_FALSE(ctl_path().empty()) << "BCL_CTL is not set"; }
    TempDir dir_;
};

TEST_F(CtlFlushTest, CommandLineErrorsExitTwo) {
    expect_refused({"flush"}, dir_.path(), 2, "MOUNTPOINT");
    expect_refused({"flush", dir_.path(), "--timeout", "soon"}, dir_.path(), 2, "--timeout");
    expect_refused({"flush", dir_.path(), "--timeout", "0"}, dir_.path(), 2, "--timeout");
    expect_refused({"flush", dir_.path(), "--timeout", "-1"}, dir_.path(), 2, "--timeout");
    expect_refused({"flush", dir_.path(), dir_.path()}, dir_.path(), 2, "");
    expect_refused({"flush", dir_.path(), "--bogus"}, dir_.path(), 2, "--bogus");
}

TEST_F(CtlFlushTest, HelpNamesTheVerb) {
    RunResult top = ctl({"--help"});
    EXPECT_EQ(top.exit_code, 0) << top.err;
    EXPECT_NE(top.out.find("flush"), std::string::npos) << top.out;
    RunResult verb = ctl({"flush", "--help"});
    EXPECT_EQ(verb.exit_code, 0) << verb.err;
    EXPECT_NE(verb.out.find("MOUNTPOINT"), std::string::npos) << verb.out;
    EXPECT_NE(verb.out.find("--timeout"), std::string::npos) << verb.out;
}

TEST_F(CtlFlushTest, AMissingPathIsOneLineAndExitOne) {
    expect_refused({"flush", dir_.file("absent")}, dir_.path(), 1, "No such file or directory");
}

TEST_F(CtlFlushTest, APlainDirectoryOrFileIsNotAMountRoot) {
    const std::string file = dir_.file("f");
    ASSERT_TRUE(make_sparse_file(file, 4096));
    expect_refused({"flush", dir_.path()}, file, 1, "is not the root of a bcachefs-lite mount");
    expect_refused({"flush", file}, file, 1, "is not the root of a bcachefs-lite mount");
    expect_refused({"flush", "--timeout", "5", dir_.path()}, file, 1, "is not the root of a bcachefs-lite mount");
}

// A directory that merely carries the attribute a mount root answers is
// still not a mount: the check asks for a FUSE file system too.
TEST_F(CtlFlushTest, TheAttributeAloneDoesNotMakeAMountRoot) {
    const std::string sub = dir_.file("sub");
    ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
    if (::setxattr(sub.c_str(), "user.bcachefs_lite.cache_mode", "writeback", 9, 0) != 0) {
        GTEST_SKIP() << "the temporary directory's file system takes no user.* attributes";
    }
    expect_refused({"flush", sub}, dir_.file("none"), 1, "is not the root of a bcachefs-lite mount");
    char value[32];
    EXPECT_LT(::getxattr(sub.c_str(), "user.bcachefs_lite.flush", value, sizeof value), 0)
        << "the refused flush set nothing";
}

}  // namespace
}  // namespace bcl::test
