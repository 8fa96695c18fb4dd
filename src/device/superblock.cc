#include "bcachefs_lite/device/superblock.h"

#include <cstring>
#include <fmt/format.h>

#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/crc32c.h"
#include "bcachefs_lite/util/size.h"

namespace bcl {

Status validate_sizes(std::uint64_t block_size, std::uint64_t bucket_size) {
    if (!is_power_of_two(block_size) || block_size < kMinBlockSize || block_size > kMaxBlockSize)
        return make_error(Errc::invalid, fmt::format("block size {} must be a power of two from {} to {}", block_size,
                                                     format_size(kMinBlockSize), format_size(kMaxBlockSize)));
    if (!is_power_of_two(bucket_size))
        return make_error(Errc::invalid, fmt::format("bucket size {} must be a power of two", bucket_size));
    if (bucket_size < block_size)
        return make_error(Errc::invalid, fmt::format("bucket size {} is smaller than the block size {}",
                                                     format_size(bucket_size), format_size(block_size)));
    if (bucket_size > kMaxBucketSize)
        return make_error(Errc::invalid, fmt::format("bucket size {} is larger than the maximum {}",
                                                     format_size(bucket_size), format_size(kMaxBucketSize)));
    return ok();
}

Status validate_superblock(const Superblock& sb) {
    auto corrupt = [](std::string what) { return make_error(Errc::corrupt, "corrupt superblock: " + what); };
    if (sb.flags & ~kSbKnownFlags)
        return make_error(Errc::unsupported,
                          fmt::format("superblock has unknown flags {:#x}", sb.flags & ~kSbKnownFlags));
    if (auto st = validate_sizes(sb.block_size, sb.bucket_size); !st) return corrupt(st.error().message);
    if (sb.first_bucket != first_bucket_for(sb.bucket_size))
        return corrupt(fmt::format("first bucket {} should be {}", sb.first_bucket, first_bucket_for(sb.bucket_size)));
    if (sb.nbuckets < sb.first_bucket || sb.nbuckets - sb.first_bucket < kMinUsableBuckets)
        return corrupt(fmt::format("{} buckets leave fewer than {} usable", sb.nbuckets, kMinUsableBuckets));
    if (sb.nbuckets > UINT64_MAX / sb.bucket_size)
        return corrupt(fmt::format("{} buckets of {} overflow", sb.nbuckets, sb.bucket_size));
    if (static_cast<std::uint8_t>(sb.replacement) > static_cast<std::uint8_t>(Replacement::random))
        return corrupt(fmt::format("unknown replacement policy {}", static_cast<unsigned>(sb.replacement)));
    if (uuid_is_nil(sb.uuid)) return corrupt("nil UUID");
    if (sb.nr_in_set == 0) {
        if (!uuid_is_nil(sb.set_uuid) || sb.dev_idx != 0) return corrupt("set membership without a set size");
    } else {
        if (uuid_is_nil(sb.set_uuid)) return corrupt("nil set UUID");
        if (sb.nr_in_set > kMaxSetDevices)
            return corrupt(fmt::format("a set of {} devices (at most {})", sb.nr_in_set, kMaxSetDevices));
        if (sb.dev_idx >= sb.nr_in_set)
            return corrupt(fmt::format("device index {} in a set of {}", sb.dev_idx, sb.nr_in_set));
    }
    return ok();
}

static std::uint32_t block_csum(const SuperblockDisk& d) {
    SuperblockDisk copy = d;
    copy.csum.set(0);
    return crc32c(0, &copy, sizeof(copy));
}

std::array<std::byte, kSuperblockSize> encode_superblock(const Superblock& sb) {
    SuperblockDisk d{};
    d.magic = kSuperblockMagic;
    d.version.set(sb.version);
    d.flags.set(sb.flags);
    d.block_size.set(sb.block_size);
    std::memcpy(d.uuid.data(), sb.uuid.data(), d.uuid.size());
    d.bucket_size.set(sb.bucket_size);
    d.replacement = static_cast<std::uint8_t>(sb.replacement);
    d.nbuckets.set(sb.nbuckets);
    d.first_bucket.set(sb.first_bucket);
    d.created.set(sb.created);
    std::memcpy(d.set_uuid.data(), sb.set_uuid.data(), d.set_uuid.size());
    d.nr_in_set = sb.nr_in_set;
    d.dev_idx = sb.dev_idx;
    d.csum.set(block_csum(d));

    std::array<std::byte, kSuperblockSize> out;
    std::memcpy(out.data(), &d, sizeof(d));
    return out;
}

bool has_superblock_magic(std::span<const std::byte> block) {
    return block.size() >= kSuperblockMagic.size() &&
           std::memcmp(block.data(), kSuperblockMagic.data(), kSuperblockMagic.size()) == 0;
}

Result<Superblock> decode_superblock(std::span<const std::byte> block) {
    if (block.size() != kSuperblockSize)
        return make_error(Errc::invalid,
                          fmt::format("superblock must be {} bytes, got {}", kSuperblockSize, block.size()));
    if (!has_superblock_magic(block)) return make_error(Errc::foreign, "not a bcachefs-lite cache device");

    SuperblockDisk d;
    std::memcpy(&d, block.data(), sizeof(d));
    // The checksum comes before the version: a flipped bit in the version
    // field is corruption, not a newer format.
    const std::uint32_t want = block_csum(d);
    if (d.csum.get() != want)
        return make_error(Errc::corrupt,
                          fmt::format("corrupt superblock: checksum {:#010x}, expected {:#010x}", d.csum.get(), want));
    if (d.version.get() != kFormatVersion)
        return make_error(Errc::unsupported, fmt::format("superblock format version {} is not supported (this build "
                                                         "reads version {})",
                                                         d.version.get(), kFormatVersion));

    Superblock sb;
    sb.version = d.version.get();
    sb.flags = d.flags.get();
    std::memcpy(sb.uuid.data(), d.uuid.data(), sb.uuid.size());
    sb.block_size = d.block_size.get();
    sb.bucket_size = d.bucket_size.get();
    sb.nbuckets = d.nbuckets.get();
    sb.first_bucket = d.first_bucket.get();
    sb.replacement = static_cast<Replacement>(d.replacement);
    sb.created = d.created.get();
    std::memcpy(sb.set_uuid.data(), d.set_uuid.data(), sb.set_uuid.size());
    sb.nr_in_set = d.nr_in_set;
    sb.dev_idx = d.dev_idx;
    if (d.pad1[0] != 0 || d.pad1[1] != 0) return make_error(Errc::corrupt, "corrupt superblock: padding is not zero");
    BCL_TRY(validate_superblock(sb));
    return sb;
}

}  // namespace bcl
