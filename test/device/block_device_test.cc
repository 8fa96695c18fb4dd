// Behaviour every BlockDevice shares, run against MemDevice and FileDevice;
// then what only FileDevice does (holes, open errors).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <functional>
#include <sys/stat.h>
#include <unistd.h>

#include "bcachefs_lite/device/file_device.h"
#include "bcachefs_lite/device/mem_device.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "common/temp_dir.h"

namespace bcl {
namespace {

constexpr std::uint64_t kDevSize = 4 << 20;

// Makes a sparse file of `size` bytes; false on failure.
bool make_file(const std::string& path, std::uint64_t size) {
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) return false;
    const bool ok = ::ftruncate(fd, static_cast<off_t>(size)) == 0;
    ::close(fd);
    return ok;
}

void fill(AlignedBuffer& b, unsigned seed) {
    for (std::size_t i = 0; i < b.size(); ++i) b.data()[i] = std::byte((i * 31 + seed) & 0xff);
}

struct DeviceFactory {
    const char* name;
    std::function<std::unique_ptr<BlockDevice>(const test::TempDir&)> make;
};

class BlockDeviceTest : public ::testing::TestWithParam<DeviceFactory> {
protected:
    void SetUp() override {
        dev_ = GetParam().make(dir_);
        ASSERT_NE(dev_, nullptr);
    }
    test::TempDir dir_;
    std::unique_ptr<BlockDevice> dev_;
};

TEST_P(BlockDeviceTest, AlignedRoundTrip) {
    EXPECT_EQ(dev_->size(), kDevSize);
    const std::uint32_t lbs = dev_->logical_block_size();
    AlignedBuffer out(64 << 10, lbs), in(64 << 10, lbs);
    fill(out, 7);
    ASSERT_TRUE(dev_->write(1 << 20, out.span()));
    ASSERT_TRUE(dev_->flush());
    ASSERT_TRUE(dev_->read(1 << 20, in.span()));
    EXPECT_EQ(std::memcmp(out.data(), in.data(), out.size()), 0);

    // The last block of the device is reachable.
    AlignedBuffer tail(lbs, lbs);
    fill(tail, 9);
    ASSERT_TRUE(dev_->write(kDevSize - lbs, tail.span()));
    AlignedBuffer back(lbs, lbs);
    ASSERT_TRUE(dev_->read(kDevSize - lbs, back.span()));
    EXPECT_EQ(std::memcmp(tail.data(), back.data(), lbs), 0);

    const IoStats s = dev_->stats();
    EXPECT_EQ(s.calls_of(IoKind::write), 2u);
    EXPECT_EQ(s.calls_of(IoKind::read), 2u);
    EXPECT_EQ(s.calls_of(IoKind::flush), 1u);
    EXPECT_EQ(s.bytes_of(IoKind::write), (64u << 10) + lbs);
    EXPECT_EQ(s.errors_of(IoKind::write), 0u);
}

TEST_P(BlockDeviceTest, MisalignedOrOutOfRangeIsInvalid) {
    const std::uint32_t lbs = dev_->logical_block_size();
    AlignedBuffer buf(2 * lbs, lbs);
    fill(buf, 1);
    AlignedBuffer before(2 * lbs, lbs);
    ASSERT_TRUE(dev_->read(0, before.span()));

    auto expect_invalid = [](const Status& st) {
        ASSERT_FALSE(st);
        EXPECT_EQ(st.error().code, Errc::invalid) << st.error().message;
    };
    expect_invalid(dev_->write(1, buf.span()));                                // offset
    expect_invalid(dev_->write(0, buf.span().first(lbs - 1)));                 // length
    expect_invalid(dev_->write(0, std::span(buf.data() + 1, lbs)));            // buffer
    expect_invalid(dev_->write(kDevSize, buf.span().first(lbs)));              // past the end
    expect_invalid(dev_->write(kDevSize - lbs, buf.span()));                   // straddles the end
    expect_invalid(dev_->write(UINT64_MAX - lbs + 1, buf.span().first(lbs)));  // wraps
    expect_invalid(dev_->read(lbs / 2, buf.span()));
    expect_invalid(dev_->discard(1, lbs));
    expect_invalid(dev_->discard(0, kDevSize + lbs));

    AlignedBuffer after(2 * lbs, lbs);
    ASSERT_TRUE(dev_->read(0, after.span()));
    EXPECT_EQ(std::memcmp(before.data(), after.data(), after.size()), 0);
    EXPECT_EQ(dev_->stats().errors_of(IoKind::write), 6u);
    EXPECT_EQ(dev_->stats().calls_of(IoKind::write), 0u);
}

TEST_P(BlockDeviceTest, DiscardedRangeReadsBackAsZeroes) {
    const std::uint32_t lbs = dev_->logical_block_size();
    AlignedBuffer buf(256 << 10, lbs);
    fill(buf, 3);
    ASSERT_TRUE(dev_->write(0, buf.span()));
    auto st = dev_->discard(64 << 10, 128 << 10);
    if (!st && st.error().code == Errc::unsupported) GTEST_SKIP() << "no discard here";
    ASSERT_TRUE(st) << st.error().message;
    AlignedBuffer back(256 << 10, lbs);
    ASSERT_TRUE(dev_->read(0, back.span()));
    for (std::size_t i = 0; i < back.size(); ++i) {
        const bool hole = i >= (64u << 10) && i < (192u << 10);
        ASSERT_EQ(back.data()[i], hole ? std::byte{0} : buf.data()[i]) << i;
    }
    EXPECT_EQ(dev_->stats().bytes_of(IoKind::discard), 128u << 10);
}

INSTANTIATE_TEST_SUITE_P(Devices, BlockDeviceTest,
                         ::testing::Values(DeviceFactory{"mem",
                                                         [](const test::TempDir&) -> std::unique_ptr<BlockDevice> {
                                                             return std::make_unique<MemDevice>(kDevSize, 4096);
                                                         }},
                                           DeviceFactory{"file",
                                                         [](const test::TempDir& dir) -> std::unique_ptr<BlockDevice> {
                                                             const std::string path = dir.file("dev");
                                                             if (!make_file(path, kDevSize)) return nullptr;
                                                             auto dev = FileDevice::open(path);
                                                             if (!dev) return nullptr;
                                                             return std::move(dev).value();
                                                         }}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(FileDevice, DiscardPunchesAHole) {
    test::TempDir dir;
    const std::string path = dir.file("dev");
    ASSERT_TRUE(make_file(path, kDevSize));
    auto dev = FileDevice::open(path);
    ASSERT_TRUE(dev) << dev.error().message;
    EXPECT_FALSE(dev.value()->is_block_device());
    EXPECT_GE(dev.value()->fd(), 0);
    AlignedBuffer buf(1 << 20, dev.value()->logical_block_size());
    fill(buf, 5);
    ASSERT_TRUE(dev.value()->write(0, buf.span()));
    ASSERT_TRUE(dev.value()->flush());
    struct stat full {};
    ASSERT_EQ(::stat(path.c_str(), &full), 0);
    ASSERT_GE(full.st_blocks, (1 << 20) / 512);

    auto st = dev.value()->discard(0, 1 << 20);
    if (!st && st.error().code == Errc::unsupported) GTEST_SKIP() << "filesystem cannot punch holes";
    ASSERT_TRUE(st) << st.error().message;
    struct stat punched {};
    ASSERT_EQ(::stat(path.c_str(), &punched), 0);
    EXPECT_LT(punched.st_blocks, full.st_blocks);
    EXPECT_EQ(punched.st_size, full.st_size);
}

TEST(FileDevice, OpenErrorsNameThePath) {
    test::TempDir dir;
    auto missing = FileDevice::open(dir.file("nope"));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, Errc::not_found);
    EXPECT_NE(missing.error().message.find(dir.file("nope")), std::string::npos);

    auto directory = FileDevice::open(dir.path());
    ASSERT_FALSE(directory);
    EXPECT_EQ(directory.error().code, Errc::invalid);
    EXPECT_EQ(directory.error().message, dir.path() + " is a directory");

    const std::string fifo = dir.file("fifo");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto f = FileDevice::open(fifo);
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().code, Errc::invalid);
}

TEST(FileDevice, ReadOnlyOpenRefusesWrites) {
    test::TempDir dir;
    const std::string path = dir.file("dev");
    ASSERT_TRUE(make_file(path, kDevSize));
    FileDeviceOptions opts;
    opts.read_only = true;
    auto dev = FileDevice::open(path, opts);
    ASSERT_TRUE(dev) << dev.error().message;
    AlignedBuffer buf(4096, 4096);
    EXPECT_TRUE(dev.value()->read(0, buf.span()));
    auto st = dev.value()->write(0, buf.span());
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::permission);
}

TEST(MemDevice, CountsFlushes) {
    MemDevice dev(1 << 20);
    EXPECT_EQ(dev.logical_block_size(), 512u);
    EXPECT_EQ(dev.fd(), -1);
    ASSERT_TRUE(dev.flush());
    ASSERT_TRUE(dev.flush());
    EXPECT_EQ(dev.flush_count(), 2u);
}

}  // namespace
}  // namespace bcl
