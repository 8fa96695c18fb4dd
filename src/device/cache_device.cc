#include "bcachefs_lite/device/cache_device.h"

#include <fmt/format.h>

#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/size.h"
#include "bcachefs_lite/util/uuid.h"

namespace bcl {

namespace {

Error prefixed(const std::string& path, Error e) {
    e.message = path + ": " + e.message;
    return e;
}

// The device behind a missing member's stand-in: there is no disk, so
// every request fails, naming the member.
class MissingMemberDevice final : public BlockDevice {
public:
    MissingMemberDevice(std::uint64_t size, std::uint32_t logical_block_size, std::string name)
        : size_(size), lbs_(logical_block_size), name_(std::move(name)) {}

    std::uint64_t size() const override { return size_; }
    std::uint32_t logical_block_size() const override { return lbs_; }
    const std::string& path() const override { return name_; }

protected:
    Status do_read(std::uint64_t, std::span<std::byte>) override { return absent(); }
    Status do_write(std::uint64_t, std::span<const std::byte>) override { return absent(); }
    Status do_flush() override { return absent(); }
    Status do_discard(std::uint64_t, std::uint64_t) override { return absent(); }

private:
    Status absent() const { return make_error(Errc::io, fmt::format("{}: the device is not present", name_)); }

    const std::uint64_t size_;
    const std::uint32_t lbs_;
    const std::string name_;
};

}  // namespace

std::unique_ptr<CacheDevice> CacheDevice::missing(const Superblock& model, unsigned dev_idx, std::uint64_t nbuckets) {
    Superblock sb = model;
    sb.dev_idx = static_cast<std::uint8_t>(dev_idx);
    sb.nbuckets = nbuckets;
    std::string name = fmt::format("(missing device {} of cache set {})", dev_idx, uuid_to_string(sb.set_id()));
    auto device = std::make_unique<MissingMemberDevice>(sb.device_bytes(), sb.block_size, std::move(name));
    return std::unique_ptr<CacheDevice>(new CacheDevice(std::move(device), sb, false));
}

Result<Superblock> read_superblock(BlockDevice& device) {
    if (device.size() < kSuperblockRegionEnd)
        return make_error(Errc::foreign, fmt::format("{}: not a bcachefs-lite cache device (only {} bytes)",
                                                     device.path(), device.size()));
    if (device.logical_block_size() > kSuperblockSize)
        return make_error(Errc::unsupported, fmt::format("{}: logical block size {} is larger than the superblock",
                                                         device.path(), device.logical_block_size()));
    AlignedBuffer block(kSuperblockSize, device.logical_block_size());
    if (auto st = device.read(kSuperblockOffset, block.span()); !st) return st.error();
    auto sb = decode_superblock(block.span());
    if (!sb) return prefixed(device.path(), sb.error());
    return sb.value();
}

Result<std::unique_ptr<CacheDevice>> CacheDevice::open(const std::string& path, const FileDeviceOptions& options) {
    auto dev = FileDevice::open(path, options);
    if (!dev) return dev.error();
    return attach(std::move(dev).value());
}

Result<std::unique_ptr<CacheDevice>> CacheDevice::attach(std::unique_ptr<BlockDevice> device) {
    auto sb = read_superblock(*device);
    if (!sb) return sb.error();
    if (sb.value().device_bytes() > device->size())
        return make_error(Errc::corrupt,
                          fmt::format("{}: superblock describes {} buckets ({}) but the device "
                                      "holds only {}",
                                      device->path(), sb.value().nbuckets, format_size(sb.value().device_bytes()),
                                      format_size(device->size())));
    if (device->logical_block_size() > sb.value().block_size)
        return make_error(Errc::unsupported,
                          fmt::format("{}: logical block size {} is larger than the cache's block "
                                      "size {}",
                                      device->path(), device->logical_block_size(), sb.value().block_size));
    return std::unique_ptr<CacheDevice>(new CacheDevice(std::move(device), sb.value()));
}

CacheDevice::CacheDevice(std::unique_ptr<BlockDevice> device, const Superblock& sb, bool present)
    : device_(std::move(device)), sb_(sb), present_(present) {}

Status CacheDevice::check_bucket_range(std::uint64_t bucket, std::uint32_t sector, std::size_t len,
                                       std::uint64_t buckets) const {
    if (bucket < sb_.first_bucket || bucket >= sb_.nbuckets)
        return make_error(Errc::invalid, fmt::format("{}: bucket {} is outside the data buckets [{}, {})", path(),
                                                     bucket, sb_.first_bucket, sb_.nbuckets));
    const std::uint64_t start = std::uint64_t{sector} << kSectorShift;
    const std::uint64_t room = std::uint64_t{sb_.bucket_size} * buckets;
    if (start > sb_.bucket_size || len > room - start)
        return make_error(Errc::invalid, fmt::format("{}: sectors {}+{} bytes run past the end of bucket {}", path(),
                                                     sector, len, bucket + buckets - 1));
    return ok();
}

Status CacheDevice::counted(Status st) {
    // A device that cannot discard has not failed.
    const bool failed = !st && st.error().code != Errc::unsupported;
    if (errors_.count(failed) && failed && on_error_limit_) on_error_limit_(st.error());
    return st;
}

Status CacheDevice::read_bucket(std::uint64_t bucket, std::uint32_t sector, std::span<std::byte> buf) {
    BCL_TRY(check_bucket_range(bucket, sector, buf.size()));
    return counted(device_->read(offset_of(bucket, sector), buf));
}

Status CacheDevice::read_buckets(std::uint64_t bucket, std::uint32_t sector, std::span<std::byte> buf) {
    const std::uint64_t following = bucket < sb_.nbuckets ? sb_.nbuckets - bucket : 1;
    BCL_TRY(check_bucket_range(bucket, sector, buf.size(), following));
    return counted(device_->read(offset_of(bucket, sector), buf));
}

Status CacheDevice::write_bucket(std::uint64_t bucket, std::uint32_t sector, std::span<const std::byte> buf) {
    BCL_TRY(check_bucket_range(bucket, sector, buf.size()));
    return counted(device_->write(offset_of(bucket, sector), buf));
}

Status CacheDevice::discard_bucket(std::uint64_t bucket) {
    BCL_TRY(check_bucket_range(bucket, 0, sb_.bucket_size));
    return counted(device_->discard(offset_of(bucket), sb_.bucket_size));
}

Status CacheDevice::flush() { return counted(device_->flush()); }

}  // namespace bcl
