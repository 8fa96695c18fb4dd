#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "bcachefs_lite/device/superblock.h"
#include "bcachefs_lite/util/crc32c.h"

namespace bcl {
namespace {

Superblock sample() {
    Superblock sb;
    sb.flags = kSbFlagDiscard;
    sb.uuid = random_uuid();
    sb.block_size = 4096;
    sb.bucket_size = 512 << 10;
    sb.nbuckets = 1000;
    sb.first_bucket = first_bucket_for(sb.bucket_size);
    sb.replacement = Replacement::fifo;
    sb.created = 1700000000;
    return sb;
}

using Block = std::array<std::byte, kSuperblockSize>;

// Recomputes the checksum after a deliberate edit, so the test reaches the
// check behind it.
void reseal(Block& b) {
    std::memset(b.data() + 16, 0, 4);
    std::uint32_t c = crc32c(0, b.data(), b.size());
    for (int i = 0; i < 4; ++i) b[16 + i] = std::byte(c >> (8 * i));
}

void put_le(Block& b, std::size_t off, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b[off + i] = std::byte(v >> (8 * i));
}

TEST(Superblock, RoundTrip) {
    const Superblock sb = sample();
    const Block b = encode_superblock(sb);
    auto back = decode_superblock(b);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value(), sb);
    EXPECT_TRUE(back.value().discard());
}

TEST(Superblock, LayoutIsLittleEndianAtFixedOffsets) {
    Superblock sb = sample();
    sb.nbuckets = 0x0102030405;
    const Block b = encode_superblock(sb);
    EXPECT_EQ(std::memcmp(b.data(), kSuperblockMagic.data(), 16), 0);
    EXPECT_EQ(b[20], std::byte{1});  // version
    EXPECT_EQ(b[28], std::byte{0x00});
    EXPECT_EQ(b[29], std::byte{0x10});  // block size 4096
    EXPECT_EQ(b[52], std::byte{1});     // fifo
    EXPECT_EQ(b[56], std::byte{0x05});
    EXPECT_EQ(b[60], std::byte{0x01});
    for (std::size_t i = 80; i < b.size(); ++i) ASSERT_EQ(b[i], std::byte{0}) << i;  // a device alone
}

TEST(Superblock, GeometryHelpers) {
    Superblock sb = sample();
    EXPECT_EQ(sb.bucket_sectors(), 1024u);
    EXPECT_EQ(sb.block_sectors(), 8u);
    EXPECT_EQ(sb.bucket_offset(3), 3u * (512 << 10));
    EXPECT_EQ(sb.usable_buckets(), 999u);
    EXPECT_EQ(sb.capacity(), 999ull * (512 << 10));
    EXPECT_EQ(first_bucket_for(4096), 2u);
    EXPECT_EQ(first_bucket_for(8192), 1u);
    EXPECT_EQ(first_bucket_for(1 << 20), 1u);
    EXPECT_EQ(first_bucket_for(512), 16u);
    EXPECT_EQ(min_device_size(4096), (2u + 64u) * 4096u);
}

TEST(Superblock, ReplacementNames) {
    for (auto r : {Replacement::lru, Replacement::fifo, Replacement::random})
        EXPECT_EQ(parse_replacement(replacement_name(r)), r);
    EXPECT_EQ(parse_replacement("LRU"), std::nullopt);
    EXPECT_EQ(parse_replacement(""), std::nullopt);
}

TEST(Superblock, WrongMagicIsForeign) {
    Block b = encode_superblock(sample());
    b[3] ^= std::byte{0x40};
    auto r = decode_superblock(b);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::foreign);
    EXPECT_EQ(r.error().message, "not a bcachefs-lite cache device");

    Block zeroes{};
    EXPECT_EQ(decode_superblock(zeroes).error().code, Errc::foreign);
}

TEST(Superblock, EveryFlippedBitPastTheMagicIsCorrupt) {
    const Block good = encode_superblock(sample());
    for (std::size_t bit = 16 * 8; bit < kSuperblockSize * 8; ++bit) {
        Block b = good;
        b[bit / 8] ^= std::byte(1u << (bit % 8));
        auto r = decode_superblock(b);
        ASSERT_FALSE(r) << "bit " << bit;
        ASSERT_EQ(r.error().code, Errc::corrupt) << "bit " << bit << ": " << r.error().message;
    }
}

TEST(Superblock, UnknownVersionIsUnsupported) {
    Block b = encode_superblock(sample());
    put_le(b, 20, 2, 4);
    reseal(b);
    auto r = decode_superblock(b);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::unsupported);
}

TEST(Superblock, UnknownFlagsAreUnsupported) {
    Block b = encode_superblock(sample());
    put_le(b, 24, 0x80, 4);
    reseal(b);
    EXPECT_EQ(decode_superblock(b).error().code, Errc::unsupported);
}

TEST(Superblock, ImpossibleGeometryIsCorrupt) {
    struct Case {
        const char* what;
        std::size_t off;
        std::uint64_t value;
        int width;
    };
    const Case cases[] = {
        {"block size not a power of two", 28, 3000, 4},
        {"block size below 512", 28, 256, 4},
        {"block size above 64k", 28, 131072, 4},
        {"bucket size not a power of two", 48, 600000, 4},
        {"bucket size below block size", 48, 2048, 4},
        {"bucket size above 8M", 48, 16u << 20, 4},
        {"first bucket wrong", 64, 0, 8},
        {"too few buckets", 56, 64, 8},
        {"nbuckets below first bucket", 56, 0, 8},
        {"nbuckets overflow", 56, UINT64_MAX / 4096, 8},
        {"replacement unknown", 52, 7, 1},
    };
    for (const Case& c : cases) {
        Block b = encode_superblock(sample());
        put_le(b, c.off, c.value, c.width);
        reseal(b);
        auto r = decode_superblock(b);
        ASSERT_FALSE(r) << c.what;
        EXPECT_EQ(r.error().code, Errc::corrupt) << c.what << ": " << r.error().message;
    }
    Block nil = encode_superblock(sample());
    std::memset(nil.data() + 32, 0, 16);
    reseal(nil);
    EXPECT_EQ(decode_superblock(nil).error().code, Errc::corrupt);
}

TEST(Superblock, SixtyFourUsableBucketsIsTheMinimum) {
    Superblock sb = sample();
    sb.nbuckets = sb.first_bucket + kMinUsableBuckets;
    EXPECT_TRUE(decode_superblock(encode_superblock(sb)));
    sb.nbuckets -= 1;
    EXPECT_EQ(decode_superblock(encode_superblock(sb)).error().code, Errc::corrupt);
}

TEST(Superblock, WrongLengthIsInvalid) {
    const Block b = encode_superblock(sample());
    EXPECT_EQ(decode_superblock(std::span(b).first(4095)).error().code, Errc::invalid);
    EXPECT_EQ(decode_superblock({}).error().code, Errc::invalid);
}

TEST(Superblock, RandomGarbageNeverCrashes) {
    std::mt19937_64 rng(12345);
    Block b;
    int decoded = 0;
    for (int i = 0; i < 20000; ++i) {
        for (auto& x : b) x = std::byte(rng());
        // Half the inputs carry our magic, and a quarter a valid checksum
        // too, so the checks behind them see hostile values.
        if (i % 2) std::memcpy(b.data(), kSuperblockMagic.data(), 16);
        if (i % 4 == 3) reseal(b);
        auto r = decode_superblock(b);
        if (r)
            ++decoded;
        else
            EXPECT_FALSE(r.error().message.empty());
    }
    EXPECT_EQ(decoded, 0);
}

TEST(Superblock, ValidateSizes) {
    EXPECT_TRUE(validate_sizes(512, 512));
    EXPECT_TRUE(validate_sizes(65536, 8 << 20));
    EXPECT_EQ(validate_sizes(4096, 0).error().code, Errc::invalid);
    EXPECT_EQ(validate_sizes(0, 4096).error().code, Errc::invalid);
    EXPECT_FALSE(validate_sizes(4096, 16 << 20));
    EXPECT_FALSE(validate_sizes(8192, 4096));
}

TEST(Superblock, SetMembershipRoundTripsAtItsOffsets) {
    Superblock sb = sample();
    sb.set_uuid = random_uuid();
    sb.nr_in_set = 2;
    sb.dev_idx = 1;
    const Block b = encode_superblock(sb);
    EXPECT_EQ(std::memcmp(b.data() + 80, sb.set_uuid.data(), 16), 0);
    EXPECT_EQ(b[96], std::byte{2});
    EXPECT_EQ(b[97], std::byte{1});
    auto back = decode_superblock(b);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value(), sb);
    EXPECT_EQ(back.value().set_id(), sb.set_uuid);
    EXPECT_EQ(back.value().set_size(), 2u);
}

TEST(Superblock, ADeviceAloneIsASetOfOneNamedByItsOwnUuid) {
    const Superblock sb = sample();
    auto back = decode_superblock(encode_superblock(sb));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value().set_id(), sb.uuid);
    EXPECT_EQ(back.value().set_size(), 1u);
    EXPECT_EQ(back.value().dev_idx, 0u);
}

TEST(Superblock, InconsistentMembershipIsCorrupt) {
    const Superblock good = sample();
    const auto corrupt = [](Block b) {
        reseal(b);
        auto r = decode_superblock(b);
        return !r && r.error().code == Errc::corrupt;
    };
    Block b = encode_superblock(good);
    b[97] = std::byte{1};  // a dev_idx without a set
    EXPECT_TRUE(corrupt(b));
    b = encode_superblock(good);
    b[80] = std::byte{7};  // a set UUID without a set size
    EXPECT_TRUE(corrupt(b));

    Superblock member = good;
    member.set_uuid = random_uuid();
    member.nr_in_set = 2;
    b = encode_superblock(member);
    b[97] = std::byte{2};  // dev_idx == nr_in_set
    EXPECT_TRUE(corrupt(b));
    b = encode_superblock(member);
    b[96] = std::byte{kMaxSetDevices + 1};
    b[97] = std::byte{0};
    EXPECT_TRUE(corrupt(b));
    b = encode_superblock(member);
    std::memset(b.data() + 80, 0, 16);  // a set without a UUID
    EXPECT_TRUE(corrupt(b));
    b = encode_superblock(member);
    b[98] = std::byte{1};  // padding
    EXPECT_TRUE(corrupt(b));
}

}  // namespace
}  // namespace bcl
