// Encoders and decoders of every index record: round trips, and no
// acceptance of (or crash on) truncated, bit-flipped or arbitrary bytes.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>

#include "bcachefs_lite/index/bucket_format.h"
#include "bcachefs_lite/index/extent_format.h"
#include "bcachefs_lite/index/file_format.h"
#include "bcachefs_lite/index/index_format.h"
#include "bcachefs_lite/util/crc32c.h"

namespace bcl {
namespace {

ExtentValue sample_extent() {
    ExtentValue v = make_extent_value(64 * 1024, 3, 123456789, 200, 987654321, 0xdeadbeef, true);
    return slice_extent_value(v, 4096, 8192);
}

FileRecord sample_file() {
    FileRecord r;
    r.file_id = 42;
    r.size = 1ull << 40;
    r.mtime_ns = 1700000000123456789;
    r.ctime_ns = -5;
    r.btime_ns = 1600000000000000001;
    r.flags = kFilePinned | (1u << 17);
    r.generation = 7;
    return r;
}

// Every decoder, as a function from bytes to "accepted?" and error code.
struct Decoder {
    const char* name;
    std::string good;
    std::function<Result<void>(std::string_view)> decode;
};

template <class F>
std::function<Result<void>(std::string_view)> status_of(F f) {
    return [f](std::string_view b) -> Result<void> {
        auto r = f(b);
        if (!r) return r.error();
        return ok();
    };
}

std::vector<Decoder> decoders() {
    return {
        {"extent", encode_extent_value(sample_extent()), status_of(decode_extent_value)},
        {"file", encode_file_record(sample_file()), status_of(decode_file_record)},
        {"bucket", encode_bucket_value(BucketGenRecord{0, 9, 40000}), status_of(decode_bucket_value)},
        {"meta u64", encode_meta_u64(0x0123456789abcdefull), status_of(decode_meta_u64)},
        {"meta uuid", encode_meta_uuid(Uuid{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}),
         status_of(decode_meta_uuid)},
        {"meta last mount", encode_meta_mount(MountRecord{1700000000, {"/dev/disk/by-id/nvme-a", "/srv/c.img"}}),
         status_of(decode_meta_mount)},
    };
}

TEST(ExtentFormat, ValueRoundTripsAndHasItsSize) {
    const ExtentValue v = sample_extent();
    const std::string bytes = encode_extent_value(v);
    EXPECT_EQ(bytes.size(), kExtentValueSize);
    auto back = decode_extent_value(bytes);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value(), v);
    EXPECT_TRUE(back.value().dirty());
    EXPECT_TRUE(back.value().crc_valid());
}

TEST(ExtentFormat, TwoCopiesRoundTripAsVersion2) {
    ExtentValue v = sample_extent();
    v.replica = ExtentPtr{static_cast<std::uint8_t>(v.device + 1), 77, 9, 77u * 128 + 16};
    const std::string bytes = encode_extent_value(v);
    EXPECT_EQ(bytes.size(), kExtentValueSize2);
    EXPECT_EQ(static_cast<std::uint8_t>(bytes[0]), kExtentValueVersion2);
    auto back = decode_extent_value(bytes);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value(), v);
    EXPECT_EQ(back.value().nptrs(), 2u);
    EXPECT_EQ(back.value().ptr(1), *v.replica);
    EXPECT_EQ(back.value().crc_device_offset(1), v.replica->sector * kSectorSize - v.crc_offset);
}

// An index written before copies existed holds version 1 records: they
// decode as they always did, one copy each.
TEST(ExtentFormat, Version1RecordsStillDecode) {
    const ExtentValue v = sample_extent();
    const std::string bytes = encode_extent_value(v);
    ASSERT_EQ(static_cast<std::uint8_t>(bytes[0]), kExtentValueVersion);
    auto back = decode_extent_value(bytes);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value().nptrs(), 1u);
    EXPECT_FALSE(back.value().replica);
}

TEST(ExtentFormat, SliceMovesBothCopies) {
    ExtentValue v = make_extent_value(16384, 0, 5, 6, 1000, 0x1234, true);
    v.replica = ExtentPtr{1, 40, 2, 5200};
    const ExtentValue s = slice_extent_value(v, 4096, 8192);
    EXPECT_EQ(s.sector, 1000u + 8);
    ASSERT_TRUE(s.replica);
    EXPECT_EQ(s.replica->sector, 5200u + 8);
    EXPECT_EQ(s.replica->bucket, 40u);
    EXPECT_EQ(s.crc_device_offset(1), v.crc_device_offset(1));
    auto back = decode_extent_value(encode_extent_value(s));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value(), s);
}

TEST(ExtentFormat, CorruptVersion2IsRejected) {
    ExtentValue v = make_extent_value(4096, 0, 5, 6, 1000, 0x1234, true);
    v.replica = ExtentPtr{0, 40, 2, 5200};  // both copies on device 0
    auto r = decode_extent_value(encode_extent_value(v));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::corrupt);
    // The copy's checksummed range would start before byte 0.
    v = make_extent_value(4096, 0, 5, 6, 1000, 0x1234, true);
    v.crc_offset = 4096;
    v.crc_length = 8192;
    v.replica = ExtentPtr{1, 0, 0, 1};
    EXPECT_EQ(decode_extent_value(encode_extent_value(v)).error().code, Errc::corrupt);
    // A version 2 record of version 1's size, and a flipped byte.
    v.replica = ExtentPtr{1, 40, 2, 5200};
    std::string bytes = encode_extent_value(v);
    std::string truncated = bytes.substr(0, kExtentValueSize - 4);
    truncated[0] = static_cast<char>(kExtentValueVersion2);
    EXPECT_FALSE(decode_extent_value(truncated));
    bytes[50] ^= 1;
    EXPECT_EQ(decode_extent_value(bytes).error().code, Errc::corrupt);
}

TEST(ExtentFormat, KeysSortInFileThenOffsetOrder) {
    const std::string a = encode_extent_key({1, 0xffffffffffff0000ull});
    const std::string b = encode_extent_key({2, 512});
    const std::string c = encode_extent_key({2, 1024});
    EXPECT_LT(a, b);
    EXPECT_LT(b, c);
    auto back = decode_extent_key(c);
    ASSERT_TRUE(back);
    EXPECT_EQ(back.value(), (ExtentKey{2, 1024}));
    EXPECT_FALSE(decode_extent_key(c.substr(1)));
}

TEST(ExtentFormat, SliceMovesSectorAndCrcWindow) {
    const ExtentValue v = make_extent_value(16384, 1, 5, 6, 1000, 0x1234, false);
    const ExtentValue s = slice_extent_value(v, 4096, 8192);
    EXPECT_EQ(s.sector, 1000u + 8);
    EXPECT_EQ(s.length, 8192u);
    EXPECT_EQ(s.crc_offset, 4096u);
    EXPECT_EQ(s.crc_length, 16384u);
    EXPECT_EQ(s.crc_device_offset(), v.crc_device_offset());
    EXPECT_EQ(s.data_crc, v.data_crc);
    EXPECT_TRUE(decode_extent_value(encode_extent_value(s)));
}

TEST(ExtentFormat, RejectsContradictoryFields) {
    ExtentValue v = make_extent_value(4096, 0, 0, 0, 8, 0, false);
    v.crc_offset = 512;  // window now runs past crc_length
    auto r = decode_extent_value(encode_extent_value(v));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::corrupt);
    v = make_extent_value(100, 0, 0, 0, 8, 0, false);  // not whole sectors
    EXPECT_FALSE(decode_extent_value(encode_extent_value(v)));
    v = make_extent_value(0, 0, 0, 0, 8, 0, false);
    EXPECT_FALSE(decode_extent_value(encode_extent_value(v)));
}

// An extent whose first sector is the last one a u64 byte offset can name
// but whose bytes run past 2^64 is corrupt: a slice of it (what an
// overlapping write leaves) would not decode. Found by fuzz_index_records.
TEST(ExtentFormat, RejectsAChecksummedRangePastTheLastByteOffset) {
    ExtentValue v = make_extent_value(953856, 0, 0, 0, UINT64_MAX / kSectorSize, 0, false);
    v.crc_length = 34399744;
    auto r = decode_extent_value(encode_extent_value(v));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::corrupt);
    // Nor may the checksummed range alone: its end must fit in a u64.
    v = make_extent_value(4096, 0, 0, 0, UINT64_MAX / kSectorSize - 16, 0, false);
    v.crc_length = 16 * kSectorSize;
    EXPECT_TRUE(decode_extent_value(encode_extent_value(v)));
    v.crc_length = 17 * kSectorSize;
    EXPECT_FALSE(decode_extent_value(encode_extent_value(v)));
    // Every slice of an extent that decodes decodes too.
    v = make_extent_value(953856, 0, 0, 0, UINT64_MAX / kSectorSize - 953856 / kSectorSize, 0, false);
    ASSERT_TRUE(decode_extent_value(encode_extent_value(v)));
    EXPECT_TRUE(decode_extent_value(encode_extent_value(slice_extent_value(v, 168960, 588800))));
}

TEST(FileFormat, RecordRoundTripsKeepingUnknownFlags) {
    const std::string bytes = encode_file_record(sample_file());
    EXPECT_EQ(bytes.size(), kFileRecordSize);
    auto back = decode_file_record(bytes);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value(), sample_file());
    EXPECT_TRUE(back.value().pinned());
}

TEST(FileFormat, FileIdZeroIsCorrupt) {
    FileRecord r = sample_file();
    r.file_id = 0;
    auto back = decode_file_record(encode_file_record(r));
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().code, Errc::corrupt);
}

TEST(FileFormat, MatchesComparesBirthSizeAndTimes) {
    const FileRecord r = sample_file();
    const FileIdentity id{10, 20, r.btime_ns};
    EXPECT_TRUE(r.matches(id, r.size, r.mtime_ns, r.ctime_ns));
    EXPECT_FALSE(r.matches(FileIdentity{10, 20, r.btime_ns + 1}, r.size, r.mtime_ns, r.ctime_ns));
    EXPECT_FALSE(r.matches(id, r.size + 1, r.mtime_ns, r.ctime_ns));
    EXPECT_FALSE(r.matches(id, r.size, r.mtime_ns + 1, r.ctime_ns));
    EXPECT_FALSE(r.matches(id, r.size, r.mtime_ns, r.ctime_ns + 1));
}

TEST(BucketFormat, RoundTripsAndKeysSortByDeviceThenBucket) {
    auto back = decode_bucket_value(encode_bucket_value(BucketGenRecord{77, 255, 65535}));
    ASSERT_TRUE(back);
    EXPECT_EQ(back.value().gen, 255);
    EXPECT_EQ(back.value().prio, 65535);
    EXPECT_LT(encode_bucket_key(0, UINT64_MAX), encode_bucket_key(1, 0));
    EXPECT_LT(encode_bucket_key(1, 255), encode_bucket_key(1, 256));
    auto key = decode_bucket_key(encode_bucket_key(3, 1ull << 33));
    ASSERT_TRUE(key);
    EXPECT_EQ(key.value().device, 3u);
    EXPECT_EQ(key.value().bucket, 1ull << 33);
}

TEST(MetaFormat, RoundTrips) {
    auto v = decode_meta_u64(encode_meta_u64(UINT64_MAX));
    ASSERT_TRUE(v);
    EXPECT_EQ(v.value(), UINT64_MAX);
    const Uuid u{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
    auto w = decode_meta_uuid(encode_meta_uuid(u));
    ASSERT_TRUE(w);
    EXPECT_EQ(w.value(), u);
    for (const MountRecord& m : {MountRecord{}, MountRecord{UINT64_MAX, {"/a", "", std::string(4096, 'p')}}}) {
        auto r = decode_meta_mount(encode_meta_mount(m));
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r.value(), m);
    }
}

TEST(MetaFormat, AMountRecordKeepsOnlyPathsWithinItsLimits) {
    MountRecord m{5, {"/ok", std::string(kMountRecordMaxPathBytes + 1, 'x'), "/also-ok"}};
    auto r = decode_meta_mount(encode_meta_mount(m));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().cache_paths, (std::vector<std::string>{"/ok", "/also-ok"}));
    m.cache_paths.assign(kMountRecordMaxPaths + 3, "/d");
    r = decode_meta_mount(encode_meta_mount(m));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().cache_paths.size(), kMountRecordMaxPaths);
}

TEST(Decoders, AcceptTheirOwnEncoding) {
    for (const auto& d : decoders()) EXPECT_TRUE(d.decode(d.good)) << d.name;
}

TEST(Decoders, RejectEveryTruncation) {
    for (const auto& d : decoders()) {
        for (std::size_t len = 0; len < d.good.size(); ++len) {
            auto r = d.decode(std::string_view(d.good).substr(0, len));
            ASSERT_FALSE(r) << d.name << " accepted " << len << " bytes";
            EXPECT_EQ(r.error().code, Errc::corrupt) << d.name << " at " << len;
        }
    }
}

TEST(Decoders, RejectEverySingleBitFlip) {
    for (const auto& d : decoders()) {
        for (std::size_t bit = 0; bit < d.good.size() * 8; ++bit) {
            std::string bad = d.good;
            bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
            auto r = d.decode(bad);
            ASSERT_FALSE(r) << d.name << " accepted a flip of bit " << bit;
            EXPECT_EQ(r.error().code, Errc::corrupt) << d.name << " bit " << bit;
        }
    }
}

TEST(Decoders, RejectAppendedBytes) {
    for (const auto& d : decoders()) {
        auto r = d.decode(d.good + std::string(1, '\0'));
        EXPECT_FALSE(r) << d.name;
    }
}

TEST(Decoders, SurviveArbitraryBytes) {
    std::mt19937_64 rng(20240601);
    int accepted = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string bytes(rng() % 80, '\0');
        for (char& c : bytes) c = static_cast<char>(rng());
        for (const auto& d : decoders())
            if (d.decode(bytes)) ++accepted;
        EXPECT_FALSE(decode_extent_key(bytes) && bytes.size() != kExtentKeySize);
        EXPECT_FALSE(decode_file_key(bytes) && bytes.size() != kFileKeySize);
        EXPECT_FALSE(decode_bucket_key(bytes) && bytes.size() != kBucketKeySize);
    }
    // A random value passes a 32-bit checksum about once in four billion.
    EXPECT_EQ(accepted, 0);
}

TEST(Decoders, UnknownVersionWithValidChecksumIsUnsupported) {
    // A meta value from a future version: version 99, intact checksum.
    std::string bytes = encode_meta_u64(5);
    bytes.resize(bytes.size() - 4);
    bytes[0] = 99;
    const std::uint32_t crc = crc32c(0, bytes.data(), bytes.size());
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    auto r = decode_meta_u64(bytes);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::unsupported);
}

}  // namespace
}  // namespace bcl
