// MemDevice: a BlockDevice held in memory, for unit tests that want the
// cache device's behaviour without a file. It enforces the same alignment
// rules as a real direct-I/O device, so code tested on it also runs on
// FileDevice. Discarded ranges read back as zeroes.
//
// Thread safety: as BlockDevice; an internal mutex guards the bytes.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "bcachefs_lite/device/block_device.h"

namespace bcl {

class MemDevice final : public BlockDevice {
public:
    // size: bytes, rounded down to a multiple of logical_block_size.
    // logical_block_size: a power of two; Default: 512.
    explicit MemDevice(std::uint64_t size, std::uint32_t logical_block_size = 512, std::string name = "mem");

    std::uint64_t size() const override { return size_; }
    std::uint32_t logical_block_size() const override { return lbs_; }
    const std::string& path() const override { return name_; }

    // Flushes so far; lets tests see that a durability point was reached.
    std::uint64_t flush_count() const;

protected:
    Status do_read(std::uint64_t offset, std::span<std::byte> buf) override;
    Status do_write(std::uint64_t offset, std::span<const std::byte> buf) override;
    Status do_flush() override;
    Status do_discard(std::uint64_t offset, std::uint64_t len) override;

private:
    const std::uint32_t lbs_;
    const std::uint64_t size_;
    const std::string name_;
    mutable std::mutex mutex_;
    std::vector<std::byte> data_;  // guarded by mutex_
    std::uint64_t flushes_ = 0;    // guarded by mutex_
};

}  // namespace bcl
