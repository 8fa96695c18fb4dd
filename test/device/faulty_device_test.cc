#include <gtest/gtest.h>

#include <cstring>

#include "bcachefs_lite/device/faulty_device.h"
#include "bcachefs_lite/device/mem_device.h"
#include "bcachefs_lite/util/aligned_buffer.h"

namespace bcl {
namespace {

constexpr std::uint32_t kBlock = 4096;

class FaultyDeviceTest : public ::testing::Test {
protected:
    FaultyDeviceTest() : dev_(std::make_unique<MemDevice>(1 << 20, kBlock)) {}

    Status write_pattern(std::uint64_t offset, std::uint8_t value, std::size_t len = kBlock) {
        AlignedBuffer b(len, kBlock);
        std::memset(b.data(), value, len);
        return dev_.write(offset, b.span());
    }
    // The byte every position of the block at offset holds, or -1 if mixed.
    int block_value(std::uint64_t offset) {
        AlignedBuffer b(kBlock, kBlock);
        if (!dev_.inner().read(offset, b.span())) return -2;
        for (std::size_t i = 1; i < kBlock; ++i)
            if (b.data()[i] != b.data()[0]) return -1;
        return std::to_integer<int>(b.data()[0]);
    }

    FaultyDevice dev_;
};

TEST_F(FaultyDeviceTest, ADelayRuleSlowsRequestsDownAndServesThem) {
    dev_.add_fault({.kind = IoKind::write, .skip = 1, .count = 1, .delay = std::chrono::milliseconds(30)});
    const auto timed_write = [&](std::uint8_t value) {
        const auto start = std::chrono::steady_clock::now();
        EXPECT_TRUE(write_pattern(0, value));
        return std::chrono::steady_clock::now() - start;
    };
    timed_write(1);  // let through at once
    EXPECT_GE(timed_write(2), std::chrono::milliseconds(30));
    EXPECT_EQ(block_value(0), 2) << "a delayed write reaches the device";
    EXPECT_EQ(dev_.injected_total(), 0u) << "a delay is no fault";
    EXPECT_EQ(dev_.stats().errors_of(IoKind::write), 0u);
    timed_write(3);  // count reached: served at once again
    EXPECT_EQ(block_value(0), 3);
}

TEST_F(FaultyDeviceTest, FailsWritesInARangeWithTheGivenErrno) {
    dev_.add_fault({.kind = IoKind::write, .offset = 8192, .length = 4096, .err = ENOSPC});
    EXPECT_TRUE(write_pattern(0, 1));
    EXPECT_TRUE(write_pattern(4096, 1));
    auto st = write_pattern(4096, 2, 2 * kBlock);  // overlaps the range
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::io);
    EXPECT_EQ(st.error().sys_errno, ENOSPC);
    EXPECT_EQ(block_value(4096), 1);  // a failed write does not reach the device
    EXPECT_FALSE(write_pattern(8192, 3));
    EXPECT_TRUE(write_pattern(12288, 3));
    EXPECT_EQ(dev_.injected(IoKind::write), 2u);
    EXPECT_EQ(dev_.injected(IoKind::read), 0u);
    EXPECT_EQ(dev_.stats().errors_of(IoKind::write), 2u);
    dev_.clear_faults();
    EXPECT_TRUE(write_pattern(8192, 3));
}

TEST_F(FaultyDeviceTest, SkipThenFailNextN) {
    dev_.add_fault({.kind = IoKind::read, .skip = 2, .count = 3});
    AlignedBuffer b(kBlock, kBlock);
    std::vector<bool> results;
    for (int i = 0; i < 7; ++i) results.push_back(static_cast<bool>(dev_.read(0, b.span())));
    EXPECT_EQ(results, (std::vector<bool>{true, true, false, false, false, true, true}));
    EXPECT_EQ(dev_.injected(IoKind::read), 3u);
}

TEST_F(FaultyDeviceTest, FailsFlushesAndDiscards) {
    dev_.add_fault({.kind = IoKind::flush, .count = 1});
    dev_.add_fault({.kind = IoKind::discard, .offset = 0, .length = 4096, .err = EOPNOTSUPP});
    EXPECT_FALSE(dev_.flush());
    EXPECT_TRUE(dev_.flush());
    auto st = dev_.discard(0, 8192);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().sys_errno, EOPNOTSUPP);
    EXPECT_TRUE(dev_.discard(8192, 8192));
    EXPECT_EQ(dev_.injected(IoKind::flush), 1u);
    EXPECT_EQ(dev_.injected(IoKind::discard), 1u);
    EXPECT_EQ(dev_.injected_total(), 2u);
}

TEST_F(FaultyDeviceTest, CrashDropsExactlyTheUnflushedWrites) {
    ASSERT_TRUE(write_pattern(0, 0xa1));
    ASSERT_TRUE(write_pattern(4096, 0xa2));
    ASSERT_TRUE(dev_.flush());
    ASSERT_TRUE(write_pattern(4096, 0xb2));  // overwrites a durable block
    ASSERT_TRUE(write_pattern(8192, 0xb3));
    ASSERT_TRUE(write_pattern(8192, 0xc3));  // written twice since the flush
    EXPECT_EQ(dev_.unflushed_writes(), 3u);

    ASSERT_TRUE(dev_.crash());
    EXPECT_EQ(dev_.unflushed_writes(), 0u);
    EXPECT_EQ(block_value(0), 0xa1);
    EXPECT_EQ(block_value(4096), 0xa2);
    EXPECT_EQ(block_value(8192), 0x00);
}

TEST_F(FaultyDeviceTest, AFailedFlushDoesNotMakeWritesDurable) {
    ASSERT_TRUE(write_pattern(0, 0x11));
    dev_.add_fault({.kind = IoKind::flush, .count = 1});
    ASSERT_FALSE(dev_.flush());
    ASSERT_TRUE(dev_.crash());
    EXPECT_EQ(block_value(0), 0x00);

    ASSERT_TRUE(write_pattern(0, 0x22));
    ASSERT_TRUE(dev_.flush());
    ASSERT_TRUE(dev_.crash());
    EXPECT_EQ(block_value(0), 0x22);
}

TEST_F(FaultyDeviceTest, CrashWithAFailedWriteKeepsWhatWasThere) {
    ASSERT_TRUE(write_pattern(0, 0x33));
    ASSERT_TRUE(dev_.flush());
    dev_.add_fault({.kind = IoKind::write});
    EXPECT_FALSE(write_pattern(0, 0x44));
    EXPECT_EQ(dev_.unflushed_writes(), 0u);
    ASSERT_TRUE(dev_.crash());
    EXPECT_EQ(block_value(0), 0x33);
}

}  // namespace
}  // namespace bcl
