// format_block_device / format_device and CacheDevice over what they wrote.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/device/format.h"
#include "bcachefs_lite/device/mem_device.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "common/temp_dir.h"

namespace bcl {
namespace {

constexpr std::uint64_t kBucket = 64 << 10;

FormatOptions small_buckets() {
    FormatOptions o;
    o.bucket_size = kBucket;
    return o;
}

TEST(FormatBlockDevice, WritesADecodableSuperblock) {
    auto mem = std::make_unique<MemDevice>(10 << 20);
    FormatOptions o = small_buckets();
    o.replacement = Replacement::random;
    o.discard = true;
    auto sb = format_block_device(*mem, o);
    ASSERT_TRUE(sb) << sb.error().message;
    EXPECT_EQ(sb.value().nbuckets, (10u << 20) / kBucket);
    EXPECT_EQ(sb.value().first_bucket, 1u);
    EXPECT_EQ(sb.value().block_size, kDefaultBlockSize);
    EXPECT_TRUE(sb.value().discard());
    EXPECT_EQ(mem->flush_count(), 1u);

    auto cache = CacheDevice::attach(std::move(mem));
    ASSERT_TRUE(cache) << cache.error().message;
    EXPECT_EQ(cache.value()->superblock(), sb.value());
    EXPECT_EQ(cache.value()->bucket_sectors(), kBucket / 512);
}

TEST(FormatBlockDevice, RefusesAnExistingCacheUnlessForced) {
    MemDevice mem(10 << 20);
    auto first = format_block_device(mem, small_buckets());
    ASSERT_TRUE(first);
    auto again = format_block_device(mem, small_buckets());
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, Errc::exists);
    EXPECT_NE(again.error().message.find(uuid_to_string(first.value().uuid)), std::string::npos);
    FormatOptions force = small_buckets();
    force.force = true;
    auto second = format_block_device(mem, force);
    ASSERT_TRUE(second);
    EXPECT_NE(second.value().uuid, first.value().uuid);
}

TEST(FormatBlockDevice, RejectsBadGeometryWithoutWriting) {
    MemDevice mem(10 << 20);
    FormatOptions o;
    o.bucket_size = 3 << 10;
    EXPECT_EQ(format_block_device(mem, o).error().code, Errc::invalid);
    o.bucket_size = 16 << 20;
    EXPECT_EQ(format_block_device(mem, o).error().code, Errc::invalid);
    o.bucket_size = 2048;
    EXPECT_EQ(format_block_device(mem, o).error().code, Errc::invalid);  // below block size
    o = FormatOptions{};
    o.block_size = 256;
    EXPECT_EQ(format_block_device(mem, o).error().code, Errc::invalid);
    o = FormatOptions{};  // 512 KiB buckets: 10 MiB is too small
    auto small = format_block_device(mem, o);
    ASSERT_FALSE(small);
    EXPECT_EQ(small.error().code, Errc::no_space);
    EXPECT_NE(small.error().message.find(std::to_string(min_device_size(512 << 10))), std::string::npos);
    EXPECT_EQ(mem.stats().calls_of(IoKind::write), 0u);
}

TEST(RewriteSuperblock, SetsAndClearsTheDirtyFlagAndKeepsTheRest) {
    MemDevice mem(10 << 20);
    auto sb = format_block_device(mem, small_buckets());
    ASSERT_TRUE(sb) << sb.error().message;
    EXPECT_FALSE(sb.value().dirty());

    Superblock dirty = sb.value();
    dirty.flags |= kSbFlagDirty;
    ASSERT_TRUE(rewrite_superblock(mem, dirty));
    auto read = read_superblock(mem);
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_TRUE(read.value().dirty());
    EXPECT_EQ(read.value(), dirty);

    ASSERT_TRUE(rewrite_superblock(mem, sb.value()));
    read = read_superblock(mem);
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(read.value(), sb.value());
}

TEST(RewriteSuperblock, RefusesAnInvalidSuperblockWithoutWriting) {
    MemDevice mem(10 << 20);
    auto sb = format_block_device(mem, small_buckets());
    ASSERT_TRUE(sb);
    Superblock bad = sb.value();
    bad.flags |= 1u << 31;  // unknown
    EXPECT_FALSE(rewrite_superblock(mem, bad));
    bad = sb.value();
    bad.block_size = 3;
    EXPECT_FALSE(rewrite_superblock(mem, bad));
    auto read = read_superblock(mem);
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(read.value(), sb.value());
}

TEST(CacheDevice, BucketIoStaysInsideDataBuckets) {
    auto mem = std::make_unique<MemDevice>(10 << 20, 4096);
    ASSERT_TRUE(format_block_device(*mem, small_buckets()));
    auto cache_r = CacheDevice::attach(std::move(mem));
    ASSERT_TRUE(cache_r);
    CacheDevice& cache = *cache_r.value();
    AlignedBuffer buf(8192, 4096);
    std::memset(buf.data(), 0x5a, buf.size());
    const std::uint64_t last = cache.nbuckets() - 1;

    ASSERT_TRUE(cache.write_bucket(last, cache.bucket_sectors() - 16, buf.span()));
    AlignedBuffer back(8192, 4096);
    ASSERT_TRUE(cache.device().read(cache.offset_of(last, cache.bucket_sectors() - 16), back.span()));
    EXPECT_EQ(std::memcmp(buf.data(), back.data(), buf.size()), 0);
    ASSERT_TRUE(cache.read_bucket(last, cache.bucket_sectors() - 16, back.span()));

    EXPECT_EQ(cache.write_bucket(0, 0, buf.span()).error().code, Errc::invalid);  // superblock
    EXPECT_EQ(cache.write_bucket(cache.nbuckets(), 0, buf.span()).error().code, Errc::invalid);
    EXPECT_EQ(cache.write_bucket(last, cache.bucket_sectors() - 8, buf.span()).error().code,
              Errc::invalid);                                                        // runs into the next bucket
    EXPECT_EQ(cache.write_bucket(last, 1, buf.span()).error().code, Errc::invalid);  // misaligned

    ASSERT_TRUE(cache.discard_bucket(last));
    ASSERT_TRUE(cache.read_bucket(last, cache.bucket_sectors() - 16, back.span()));
    EXPECT_EQ(back.data()[0], std::byte{0});
    EXPECT_EQ(cache.discard_bucket(0).error().code, Errc::invalid);
}

TEST(CacheDevice, AttachRejectsForeignCorruptAndTooLargeGeometry) {
    auto blank = CacheDevice::attach(std::make_unique<MemDevice>(10 << 20));
    ASSERT_FALSE(blank);
    EXPECT_EQ(blank.error().code, Errc::foreign);
    EXPECT_NE(blank.error().message.find("not a bcachefs-lite cache device"), std::string::npos);

    // A superblock made for a larger device.
    MemDevice big(20 << 20);
    auto sb = format_block_device(big, small_buckets());
    ASSERT_TRUE(sb);
    AlignedBuffer block(kSuperblockSize, 512);
    ASSERT_TRUE(big.read(kSuperblockOffset, block.span()));
    auto smaller = std::make_unique<MemDevice>(10 << 20);
    ASSERT_TRUE(smaller->write(kSuperblockOffset, block.span()));
    auto r = CacheDevice::attach(std::move(smaller));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::corrupt);

    // A flipped bit.
    block.data()[100] ^= std::byte{1};
    auto flipped = std::make_unique<MemDevice>(20 << 20);
    ASSERT_TRUE(flipped->write(kSuperblockOffset, block.span()));
    auto c = CacheDevice::attach(std::move(flipped));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, Errc::corrupt);
}

TEST(FormatDevice, CreatesASparseFileAndOpensIt) {
    test::TempDir dir;
    const std::string path = dir.file("cache.img");
    FormatOptions o;
    o.size = 1ull << 30;
    auto sb = format_device(path, o);
    ASSERT_TRUE(sb) << sb.error().message;
    EXPECT_EQ(sb.value().nbuckets, 2048u);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 1ll << 30);
    EXPECT_LT(st.st_blocks * 512, 1 << 20);  // sparse

    auto cache = CacheDevice::open(path);
    ASSERT_TRUE(cache) << cache.error().message;
    EXPECT_EQ(cache.value()->superblock(), sb.value());
    EXPECT_GE(cache.value()->fd(), 0);
}

TEST(FormatDevice, RefusalsLeaveNoFileBehind) {
    test::TempDir dir;
    const std::string path = dir.file("small.img");
    FormatOptions o;
    o.size = 1 << 20;
    EXPECT_EQ(format_device(path, o).error().code, Errc::no_space);
    EXPECT_NE(::access(path.c_str(), F_OK), 0);

    o = FormatOptions{};
    EXPECT_EQ(format_device(path, o).error().code, Errc::not_found);
    EXPECT_EQ(format_device(dir.path(), o).error().code, Errc::invalid);
}

TEST(CacheDevice, OpenMissingPathNamesIt) {
    test::TempDir dir;
    auto r = CacheDevice::open(dir.file("missing"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::not_found);
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    EXPECT_NE(r.error().message.find(dir.file("missing")), std::string::npos);
}

TEST(FormatSet, MemDevicesBecomeOneSetWithTheirOwnPlaces) {
    MemDevice a(10 << 20), b(12 << 20);
    auto sbs = format_block_device_set({&a, &b}, small_buckets());
    ASSERT_TRUE(sbs) << sbs.error().message;
    ASSERT_EQ(sbs.value().size(), 2u);
    const Superblock& s0 = sbs.value()[0];
    const Superblock& s1 = sbs.value()[1];
    EXPECT_EQ(s0.set_uuid, s1.set_uuid);
    EXPECT_NE(s0.uuid, s1.uuid);
    EXPECT_EQ(s0.nr_in_set, 2u);
    EXPECT_EQ(s0.dev_idx, 0u);
    EXPECT_EQ(s1.dev_idx, 1u);
    EXPECT_EQ(s0.bucket_size, s1.bucket_size);
    EXPECT_NE(s0.nbuckets, s1.nbuckets);
    auto back = read_superblock(b);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value(), s1);
}

TEST(FormatSet, RefusesOneDeviceTwiceOrTooFewWithoutWriting) {
    MemDevice a(10 << 20), tiny(1 << 20);
    EXPECT_EQ(format_block_device_set({&a, &a}, small_buckets()).error().code, Errc::invalid);
    EXPECT_EQ(format_block_device_set({&a}, small_buckets()).error().code, Errc::invalid);
    // The second is too small: the first is left as it was.
    EXPECT_EQ(format_block_device_set({&a, &tiny}, small_buckets()).error().code, Errc::no_space);
    EXPECT_FALSE(read_superblock(a));
}

TEST(FormatSet, FilesByPath) {
    test::TempDir dir;
    const std::string p0 = dir.file("a.img"), p1 = dir.file("b.img");
    FormatOptions o = small_buckets();
    o.size = 8 << 20;
    EXPECT_EQ(format_set({p0, p0}, o).error().code, Errc::invalid);
    EXPECT_NE(::access(p0.c_str(), F_OK), 0);
    auto sbs = format_set({p0, p1}, o);
    ASSERT_TRUE(sbs) << sbs.error().message;
    for (unsigned i = 0; i < 2; ++i) {
        auto dev = CacheDevice::open(i == 0 ? p0 : p1);
        ASSERT_TRUE(dev) << dev.error().message;
        EXPECT_EQ(dev.value()->superblock().set_id(), sbs.value()[0].set_uuid);
        EXPECT_EQ(dev.value()->superblock().dev_idx, i);
    }
    // Formatted already: refused unless forced, and neither is touched.
    EXPECT_EQ(format_set({p0, p1}, small_buckets()).error().code, Errc::exists);
}

}  // namespace
}  // namespace bcl
