// FileDevice: a BlockDevice over a block device node or a regular file,
// opened with O_DIRECT so the cache never double-buffers in the page cache.
//
// Block devices are opened with O_EXCL (unless asked not to), so a device
// that is mounted or held by another program is refused with Errc::busy.
// Discard is BLKDISCARD on a block device and fallocate(PUNCH_HOLE) on a
// file (a sparse file gives the space back). Flush is fdatasync.
//
// Thread safety: as BlockDevice; pread/pwrite need no lock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bcachefs_lite/device/block_device.h"

namespace bcl {

struct FileDeviceOptions {
    // Open read-only; writes, flushes and discards fail with Errc::permission.
    // Default: false.
    bool read_only = false;
    // Claim a block device exclusively (O_EXCL). Default: true; ignored for
    // regular files and for read_only opens.
    bool exclusive = true;
};

class FileDevice final : public BlockDevice {
public:
    // Errors name the path: Errc::not_found, permission, busy (in use),
    // invalid (a directory, or not a file or block device), unsupported (no
    // O_DIRECT on that filesystem), io.
    static Result<std::unique_ptr<FileDevice>> open(const std::string& path, const FileDeviceOptions& options = {});
    ~FileDevice() override;

    std::uint64_t size() const override { return size_; }
    std::uint32_t logical_block_size() const override { return lbs_; }
    int fd() const override { return fd_; }
    const std::string& path() const override { return path_; }
    bool is_block_device() const { return block_device_; }
    bool read_only() const { return read_only_; }

protected:
    Status do_read(std::uint64_t offset, std::span<std::byte> buf) override;
    Status do_write(std::uint64_t offset, std::span<const std::byte> buf) override;
    Status do_flush() override;
    Status do_discard(std::uint64_t offset, std::uint64_t len) override;

private:
    FileDevice(int fd, std::string path, std::uint64_t size, std::uint32_t lbs, bool block_device, bool read_only);
    Status check_writable(const char* what) const;

    const int fd_;
    const std::string path_;
    const std::uint64_t size_;
    const std::uint32_t lbs_;
    const bool block_device_;
    const bool read_only_;
};

}  // namespace bcl
