// CacheDevice: a formatted cache device, i.e. a BlockDevice together with
// its verified superblock. The layers above address it by bucket and by
// 512-byte sector within a bucket, as bcache does, and never touch the
// superblock region.
//
// Every request it makes of the device (reads, writes, flushes, discards)
// is counted in its IoErrorCounter (io_error_counter.h), failed or not; a
// request refused before it reaches the device (a range outside the data
// buckets) and a discard the device cannot do are no device errors. When a
// failed request takes the count to io_error_limit, the handler given to
// on_error_limit() is called with that request's error, on the thread that
// made the request (it must not block or take the caller's locks).
//
// Thread safety: the superblock is immutable after open; I/O calls are as
// thread-safe as BlockDevice's. on_error_limit() must be set before I/O
// starts from other threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "bcachefs_lite/device/block_device.h"
#include "bcachefs_lite/device/file_device.h"
#include "bcachefs_lite/device/io_error_counter.h"
#include "bcachefs_lite/device/superblock.h"

namespace bcl {

class CacheDevice {
public:
    // Opens path as a FileDevice and verifies its superblock. Errors, each
    // one line naming the path: the FileDevice ones (missing, unreadable,
    // busy), Errc::foreign (not ours), corrupt (bad checksum, or a geometry
    // larger than the device), unsupported (newer format, or a device whose
    // logical block size exceeds the superblock's block size).
    static Result<std::unique_ptr<CacheDevice>> open(const std::string& path, const FileDeviceOptions& options = {});
    // The same checks over a device already open (a MemDevice or a
    // FaultyDevice in tests).
    static Result<std::unique_ptr<CacheDevice>> attach(std::unique_ptr<BlockDevice> device);
    // Stands in for member dev_idx of a set mounted without it (degraded):
    // model's superblock (a present member's) with that dev_idx and
    // nbuckets, over a device that fails every request, so that the layers
    // above keep one CacheDevice per dev_idx and never reach a real disk.
    static std::unique_ptr<CacheDevice> missing(const Superblock& model, unsigned dev_idx, std::uint64_t nbuckets);

    // False for a stand-in made by missing().
    bool present() const { return present_; }

    const Superblock& superblock() const { return sb_; }
    BlockDevice& device() { return *device_; }
    const BlockDevice& device() const { return *device_; }
    const std::string& path() const { return device_->path(); }
    int fd() const { return device_->fd(); }

    std::uint64_t nbuckets() const { return sb_.nbuckets; }
    std::uint64_t first_bucket() const { return sb_.first_bucket; }
    std::uint32_t bucket_size() const { return sb_.bucket_size; }
    std::uint32_t block_size() const { return sb_.block_size; }
    std::uint32_t bucket_sectors() const { return sb_.bucket_sectors(); }
    std::uint32_t block_sectors() const { return sb_.block_sectors(); }

    // Byte offset on the device of `sector` (512-byte units) within `bucket`.
    std::uint64_t offset_of(std::uint64_t bucket, std::uint32_t sector = 0) const {
        return sb_.bucket_offset(bucket) + (std::uint64_t{sector} << kSectorShift);
    }

    // I/O inside one data bucket: Errc::invalid unless bucket is in
    // [first_bucket, nbuckets) and the range stays within it (and obeys the
    // device's alignment rules).
    [[nodiscard]] Status read_bucket(std::uint64_t bucket, std::uint32_t sector, std::span<std::byte> buf);
    // A read that starts in `bucket` and may run on through the data
    // buckets after it (they are contiguous on the device): one I/O for
    // extents laid out back to back across a bucket boundary.
    [[nodiscard]] Status read_buckets(std::uint64_t bucket, std::uint32_t sector, std::span<std::byte> buf);
    [[nodiscard]] Status write_bucket(std::uint64_t bucket, std::uint32_t sector, std::span<const std::byte> buf);
    // Discards a whole data bucket; Errc::unsupported when the device cannot.
    [[nodiscard]] Status discard_bucket(std::uint64_t bucket);
    [[nodiscard]] Status flush();

    // The device's error count and its tunables.
    IoErrorCounter& io_errors() { return errors_; }
    const IoErrorCounter& io_errors() const { return errors_; }
    // Called when a failed request takes the error count to the limit
    // (again for every later failed request while it stays there).
    void on_error_limit(std::function<void(const Error&)> handler) { on_error_limit_ = std::move(handler); }

private:
    CacheDevice(std::unique_ptr<BlockDevice> device, const Superblock& sb, bool present = true);
    // `buckets`: how many buckets from `bucket` on the range may span.
    Status check_bucket_range(std::uint64_t bucket, std::uint32_t sector, std::size_t len,
                              std::uint64_t buckets = 1) const;

    // Counts the result of a request that reached the device; returns it.
    Status counted(Status st);

    std::unique_ptr<BlockDevice> device_;
    const Superblock sb_;
    const bool present_;
    IoErrorCounter errors_;
    std::function<void(const Error&)> on_error_limit_;
};

// Reads and decodes the superblock of an open device, without the size
// checks attach() adds. Errors as decode_superblock, prefixed by the path.
Result<Superblock> read_superblock(BlockDevice& device);

}  // namespace bcl
