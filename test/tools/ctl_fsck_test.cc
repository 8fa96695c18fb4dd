// bcachefs-lite-ctl fsck: command-line errors, refusals (no cache, no
// index, an index in use) and fsck(8)'s exit codes with the summary, on a
// formatted cache file and an index made here.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/index/index.h"
#include "common/temp_dir.h"
#include "ctl_runner.h"

namespace bcl::test {
namespace {

class CtlFsckTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(ctl_path().empty()) << "BCL_CTL is not set";
        img_ = dir_.file("cache.img");
        index_dir_ = dir_.file("index");
        RunResult f = ctl({"format", img_, "--size", "64M", "--bucket-size", "256k"});
        ASSERT_EQ(f.exit_code, 0) << f.err;
    }

    // Creates the cache's (empty) index.
    std::unique_ptr<Index> create_index() {
        FileDeviceOptions fo;
        fo.read_only = true;
        auto dev = CacheDevice::open(img_, fo);
        EXPECT_TRUE(dev) << dev.error().message;
        IndexOptions io;
        io.create_if_missing = true;
        io.cache_uuid = dev.value()->superblock().uuid;
        auto index = Index::open(index_dir_, io);
        EXPECT_TRUE(index) << index.error().message;
        return index ? std::move(index).value() : nullptr;
    }

    RunResult fsck(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"fsck", img_, "--index", index_dir_};
        args.insert(args.end(), extra.begin(), extra.end());
        return ctl(args);
    }

    TempDir dir_;
    std::string img_, index_dir_;
};

TEST_F(CtlFsckTest, CommandLineErrorsExit16) {
    RunResult r = ctl({"fsck"});
    EXPECT_EQ(r.exit_code, 16) << r.err;
    EXPECT_NE(r.err.find("CACHE"), std::string::npos) << r.err;
    r = ctl({"fsck", img_, "--no-such-option"});
    EXPECT_EQ(r.exit_code, 16) << r.err;
    // Other verbs keep their own code.
    r = ctl({"show"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST_F(CtlFsckTest, WhatCannotBeOpenedExits8WithOneLine) {
    RunResult r = ctl({"fsck", dir_.file("missing.img"), "--index", index_dir_});
    EXPECT_EQ(r.exit_code, 8) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

    r = fsck();  // no index yet
    EXPECT_EQ(r.exit_code, 8) << r.err;
    EXPECT_NE(r.err.find("no index"), std::string::npos) << r.err;
}

TEST_F(CtlFsckTest, AnIndexInUseIsRefusedWithAndWithoutRepair) {
    auto index = create_index();
    ASSERT_TRUE(index);
    for (bool repair : {false, true}) {
        RunResult r = repair ? fsck({"--repair"}) : fsck();
        EXPECT_EQ(r.exit_code, 8) << r.err;
        EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("unmount"), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
}

TEST_F(CtlFsckTest, ACleanCacheExits0WithASummary) {
    create_index().reset();
    RunResult r = fsck();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
    EXPECT_NE(r.out.find("extents: 0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("left: 0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(img_ + ": clean"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("bad copies"), std::string::npos) << "a cache of one device has no copies: " << r.out;
}

TEST_F(CtlFsckTest, ErrorsExit4UntilRepairedThen1Then0) {
    {
        auto index = create_index();
        ASSERT_TRUE(index);
        IndexBatch b;
        b.put_dirty_file(42, DirtyFileRecord{1, 2, 0, 1, "h"});
        ASSERT_TRUE(index->commit(b, true));
    }
    RunResult r = fsck();
    EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
    EXPECT_NE(r.out.find("orphaned: 1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 error left uncorrected"), std::string::npos) << r.out;

    r = fsck({"--repair"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("repaired: 1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 error corrected"), std::string::npos) << r.out;

    r = fsck();
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace bcl::test
