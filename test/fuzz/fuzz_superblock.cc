// Fuzzes the superblock decoder against its encoder.
//
// Input: a mode byte, then the block (zero-padded or cut to 4096 bytes).
// Bit 0 of the mode puts the magic and a correct checksum on the block
// first: random bytes almost never pass CRC-32C, and the geometry checks
// behind it are what is worth fuzzing. The same bytes also describe a
// Superblock value that goes through encode and decode.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "bcachefs_lite/device/superblock.h"
#include "bcachefs_lite/util/crc32c.h"
#include "fuzz_check.h"

namespace bcl {
namespace {

using Block = std::array<std::byte, kSuperblockSize>;

constexpr std::size_t kCsumOffset = offsetof(SuperblockDisk, csum);

void seal(Block& b) {
    std::memcpy(b.data(), kSuperblockMagic.data(), kSuperblockMagic.size());
    std::memset(b.data() + kCsumOffset, 0, 4);
    const std::uint32_t c = crc32c(0, b.data(), b.size());
    for (int i = 0; i < 4; ++i) b[kCsumOffset + i] = std::byte(c >> (8 * i));
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b, std::size_t from, std::size_t to) {
    return std::memcmp(a.data() + from, b.data() + from, to - from) == 0;
}

// What decode promises about any byte pattern it accepts or refuses.
void check_decode(std::span<const std::byte> block) {
    auto sb = decode_superblock(block);
    if (!sb) {
        const Error& e = sb.error();
        fuzz::check_error(e, {Errc::invalid, Errc::foreign, Errc::corrupt, Errc::unsupported});
        if (block.size() != kSuperblockSize)
            BCL_FUZZ_CHECK(e.code == Errc::invalid);
        else if (!has_superblock_magic(block))
            BCL_FUZZ_CHECK(e.code == Errc::foreign);
        return;
    }
    const Superblock& s = sb.value();
    BCL_FUZZ_CHECK(block.size() == kSuperblockSize && has_superblock_magic(block));
    BCL_FUZZ_CHECK(s.version == kFormatVersion);
    BCL_FUZZ_CHECK(validate_superblock(s));
    // The geometry the device layer computes with must make sense.
    BCL_FUZZ_CHECK(s.block_sectors() >= 1 && s.bucket_size % s.block_size == 0);
    BCL_FUZZ_CHECK(s.first_bucket * s.bucket_size >= kSuperblockRegionEnd);
    BCL_FUZZ_CHECK(s.usable_buckets() >= kMinUsableBuckets && s.usable_buckets() <= s.nbuckets);
    BCL_FUZZ_CHECK(s.device_bytes() / s.bucket_size == s.nbuckets);
    BCL_FUZZ_CHECK(s.capacity() == s.device_bytes() - s.first_bucket * s.bucket_size);

    const Block again = encode_superblock(s);
    auto back = decode_superblock(again);
    BCL_FUZZ_CHECK(back && back.value() == s);
    // Every field decode read is where encode writes it; only the checksum
    // and the bytes decode ignores (pad0, reserved) may differ.
    BCL_FUZZ_CHECK(same_bytes(block, again, 0, kCsumOffset));
    BCL_FUZZ_CHECK(same_bytes(block, again, offsetof(SuperblockDisk, version), offsetof(SuperblockDisk, pad0)));
    BCL_FUZZ_CHECK(same_bytes(block, again, offsetof(SuperblockDisk, nbuckets), offsetof(SuperblockDisk, reserved)));
}

// A Superblock from the input: mostly plausible geometry, sometimes any.
Superblock superblock_from(FuzzedDataProvider& in) {
    Superblock sb;
    sb.version = in.ConsumeBool() ? kFormatVersion : in.ConsumeIntegral<std::uint32_t>();
    sb.flags = in.ConsumeBool() ? (in.ConsumeBool() ? kSbFlagDiscard : 0) : in.ConsumeIntegral<std::uint32_t>();
    for (auto& b : sb.uuid) b = in.ConsumeIntegral<std::uint8_t>();
    sb.block_size =
        in.ConsumeBool() ? kMinBlockSize << in.ConsumeIntegralInRange(0, 7) : in.ConsumeIntegral<std::uint32_t>();
    sb.bucket_size =
        in.ConsumeBool() ? sb.block_size << in.ConsumeIntegralInRange(0, 14) : in.ConsumeIntegral<std::uint32_t>();
    sb.first_bucket = in.ConsumeBool() && sb.bucket_size != 0 ? first_bucket_for(sb.bucket_size)
                                                              : in.ConsumeIntegral<std::uint64_t>();
    sb.nbuckets = in.ConsumeBool() ? sb.first_bucket + kMinUsableBuckets + in.ConsumeIntegral<std::uint32_t>()
                                   : in.ConsumeIntegral<std::uint64_t>();
    const auto policy = in.ConsumeIntegral<std::uint8_t>();
    sb.replacement = static_cast<Replacement>(in.ConsumeBool() ? policy % 3 : policy);
    sb.created = in.ConsumeIntegral<std::uint64_t>();
    return sb;
}

// encode then decode gives the value back exactly when it is valid, and
// otherwise the error validate_superblock names.
void check_encode(FuzzedDataProvider& in) {
    const Superblock sb = superblock_from(in);
    const Status valid = validate_superblock(sb);
    Block block = encode_superblock(sb);
    BCL_FUZZ_CHECK(has_superblock_magic(block));
    auto back = decode_superblock(block);
    if (sb.version != kFormatVersion) {
        BCL_FUZZ_CHECK(!back && back.error().code == Errc::unsupported);
    } else if (!valid) {
        BCL_FUZZ_CHECK(!back && back.error().code == valid.error().code);
        BCL_FUZZ_CHECK(back.error().message == valid.error().message);
    } else {
        BCL_FUZZ_CHECK(back && back.value() == sb);
    }
    // CRC-32C catches every single-bit error; the magic has its own check.
    const std::size_t bit = in.ConsumeIntegralInRange<std::size_t>(0, kSuperblockSize * 8 - 1);
    block[bit / 8] ^= std::byte(1u << (bit % 8));
    auto flipped = decode_superblock(block);
    BCL_FUZZ_CHECK(!flipped);
    BCL_FUZZ_CHECK(flipped.error().code == (bit / 8 < kSuperblockMagic.size() ? Errc::foreign : Errc::corrupt));
}

}  // namespace
}  // namespace bcl

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace bcl;
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    const auto* body = reinterpret_cast<const std::byte*>(data + 1);
    const std::size_t body_size = size - 1;

    check_decode({body, body_size});
    Block block{};
    std::copy_n(body, std::min(body_size, block.size()), block.begin());
    if (mode & 1) seal(block);
    check_decode(block);

    FuzzedDataProvider in(data + 1, body_size);
    check_encode(in);
    return 0;
}
