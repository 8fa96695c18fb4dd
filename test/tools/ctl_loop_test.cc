// bcachefs-lite-ctl on a real block device: a loop device over a temp file.
// Needs root and a free loop device; skips with the reason otherwise.
#include <gtest/gtest.h>

#include <optional>
#include <sys/stat.h>

#include "bcachefs_lite/device/file_device.h"
#include "ctl_runner.h"
#include "common/temp_dir.h"

namespace bcl::test {
namespace {

// Attaches a loop device to a file and detaches exactly that device on
// destruction.
class LoopDevice {
public:
    LoopDevice(std::string losetup, const std::string& file) : losetup_(std::move(losetup)) {
        RunResult r = run({losetup_, "--find", "--show", file});
        if (r.exit_code != 0) {
            error_ = r.err.empty() ? "losetup failed" : r.err;
            return;
        }
        device_ = r.out.substr(0, r.out.find('\n'));
    }
    ~LoopDevice() {
        if (!device_.empty()) run({losetup_, "-d", device_});
    }
    LoopDevice(const LoopDevice&) = delete;
    LoopDevice& operator=(const LoopDevice&) = delete;

    const std::string& device() const { return device_; }
    const std::string& error() const { return error_; }

private:
    std::string losetup_;
    std::string device_;
    std::string error_;
};

class CtlLoopTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(ctl_path().empty()) << "BCL_CTL is not set";
        if (::geteuid() != 0) GTEST_SKIP() << "needs root to attach a loop device";
        if (::access("/dev/loop-control", F_OK) != 0) GTEST_SKIP() << "no /dev/loop-control";
        const std::string losetup = find_program("losetup");
        if (losetup.empty()) GTEST_SKIP() << "losetup is not installed";
        const std::string backing = dir_.file("backing.img");
        ASSERT_TRUE(make_sparse_file(backing, 128 << 20));
        loop_.emplace(losetup, backing);
        if (loop_->device().empty()) GTEST_SKIP() << "no loop device: " << loop_->error();
    }
    void TearDown() override { loop_.reset(); }

    TempDir dir_;
    std::optional<LoopDevice> loop_;
};

TEST_F(CtlLoopTest, FormatsShowsAndRefusesASecondFormat) {
    const std::string dev = loop_->device();
    struct stat st {};
    ASSERT_EQ(::stat(dev.c_str(), &st), 0);
    ASSERT_TRUE(S_ISBLK(st.st_mode));

    expect_refused({"format", dev, "--size", "64M"}, dev, 1, "block device");
    RunResult f = ctl({"format", dev, "--bucket-size", "256k"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    RunResult s = ctl({"show", dev});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    EXPECT_NE(s.out.find("buckets:       512 total, first 1, 511 usable"), std::string::npos) << s.out;
    EXPECT_NE(s.out.find("bucket size:   256KiB"), std::string::npos) << s.out;

    expect_refused({"format", dev}, dev, 1, "already holds a bcachefs-lite cache");
    expect_refused({"format", dev, "--bucket-size", "64M"}, dev, 2, "bucket size");
}

TEST_F(CtlLoopTest, ADeviceInUseIsRefusedButCanBeShown) {
    const std::string dev = loop_->device();
    ASSERT_EQ(ctl({"format", dev}).exit_code, 0);
    // Holding the device exclusively, as a mounted cache does.
    auto held = FileDevice::open(dev);
    ASSERT_TRUE(held) << held.error().message;
    EXPECT_TRUE(held.value()->is_block_device());
    expect_refused({"format", dev, "--force"}, dev, 1, "in use");
    RunResult s = ctl({"show", dev, "--json"});
    EXPECT_EQ(s.exit_code, 0) << s.err;
    EXPECT_NE(s.out.find("\"nbuckets\":256"), std::string::npos) << s.out;
}

}  // namespace
}  // namespace bcl::test
