// bcachefs-lite-ctl fsck over a cache set of two files: the members in any
// order give one clean run; a member alone, devices of two sets, one device
// twice and an index in use are refused with one line, exit status 8, and
// nothing changed.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/index/index.h"
#include "common/temp_dir.h"
#include "ctl_runner.h"

namespace bcl::test {
namespace {

class CtlFsckSetTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(ctl_path().empty()) << "BCL_CTL is not set";
        a_ = dir_.file("a.img");
        b_ = dir_.file("b.img");
        index_dir_ = dir_.file("index");
        RunResult f = ctl({"format", a_, b_, "--size", "64M", "--bucket-size", "256k"});
        ASSERT_EQ(f.exit_code, 0) << f.err;
        set_uuid_ = set_uuid_of(a_);
    }

    static std::string set_uuid_of(const std::string& path) {
        FileDeviceOptions fo;
        fo.read_only = true;
        auto dev = CacheDevice::open(path, fo);
        EXPECT_TRUE(dev) << dev.error().message;
        return dev ? uuid_to_string(dev.value()->superblock().set_id()) : std::string();
    }

    // Creates the set's (empty) index, as its first mount would.
    std::unique_ptr<Index> create_index() {
        FileDeviceOptions fo;
        fo.read_only = true;
        auto dev = CacheDevice::open(a_, fo);
        EXPECT_TRUE(dev) << dev.error().message;
        IndexOptions io;
        io.create_if_missing = true;
        io.cache_uuid = dev.value()->superblock().set_id();
        auto index = Index::open(index_dir_, io);
        EXPECT_TRUE(index) << index.error().message;
        return index ? std::move(index).value() : nullptr;
    }

    std::vector<std::string> fsck_args(std::vector<std::string> devices, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"fsck"};
        args.insert(args.end(), devices.begin(), devices.end());
        args.insert(args.end(), {"--index", index_dir_});
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    TempDir dir_;
    std::string a_, b_, index_dir_, set_uuid_;
};

TEST_F(CtlFsckSetTest, ACleanSetExits0InEitherOrder) {
    create_index().reset();
    for (const auto& order : {std::vector<std::string>{a_, b_}, std::vector<std::string>{b_, a_}}) {
        RunResult r = ctl(fsck_args(order));
        EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
        EXPECT_TRUE(r.err.empty()) << r.err;
        // Named in dev_idx order, whatever the order given.
        EXPECT_NE(
            r.out.find(fmt::format("checking cache set {} ({}, {}) against index {}", set_uuid_, a_, b_, index_dir_)),
            std::string::npos)
            << r.out;
        EXPECT_NE(r.out.find("bad copies: 0"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("left: 0"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find(fmt::format("cache set {}: clean", set_uuid_)), std::string::npos) << r.out;
    }
    RunResult r = ctl(fsck_args({a_, b_}, {"--repair"}));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(CtlFsckSetTest, AMemberAloneIsRefusedNamingTheSetAndTheMissingDevice) {
    create_index().reset();
    const std::string missing_1 = fmt::format("cache set {} has 2 devices, but device 1 of it is not given", set_uuid_);
    expect_refused(fsck_args({a_}), a_, 8, missing_1);
    expect_refused(fsck_args({a_}, {"--repair"}), a_, 8, "fsck needs every member");
    expect_refused(fsck_args({b_}), b_, 8, "device 0 of it is not given");
}

TEST_F(CtlFsckSetTest, DevicesOfTwoSetsAreRefused) {
    const std::string c = dir_.file("c.img"), d = dir_.file("d.img");
    RunResult f = ctl({"format", c, d, "--size", "64M", "--bucket-size", "256k"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    expect_refused(fsck_args({a_, c}), a_, 8, "give the devices of one set");
    EXPECT_FALSE(std::filesystem::exists(index_dir_)) << "a refused fsck created an index";
}

TEST_F(CtlFsckSetTest, TheSameDeviceTwiceIsRefused) {
    create_index().reset();
    expect_refused(fsck_args({a_, a_}), a_, 8, "given twice");
    // A copy of a member is the same device too: same set, same dev_idx.
    const std::string copy = dir_.file("a-copy.img");
    std::filesystem::copy_file(a_, copy);
    expect_refused(fsck_args({a_, copy, b_}), a_, 8, "the same device is given twice");
}

TEST_F(CtlFsckSetTest, ASetWhoseIndexIsInUseIsRefused) {
    auto index = create_index();
    ASSERT_TRUE(index);
    expect_refused(fsck_args({a_, b_}), a_, 8, "in use");
    expect_refused(fsck_args({b_, a_}, {"--repair"}), b_, 8, "unmount");
}

}  // namespace
}  // namespace bcl::test
