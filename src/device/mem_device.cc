#include "bcachefs_lite/device/mem_device.h"

#include <algorithm>
#include <cstring>

#include "bcachefs_lite/util/aligned_buffer.h"

namespace bcl {

MemDevice::MemDevice(std::uint64_t size, std::uint32_t logical_block_size, std::string name)
    : lbs_(is_power_of_two(logical_block_size) ? logical_block_size : 512),
      size_(round_down(size, lbs_)),
      name_(std::move(name)),
      data_(size_) {}

std::uint64_t MemDevice::flush_count() const {
    std::lock_guard lock(mutex_);
    return flushes_;
}

Status MemDevice::do_read(std::uint64_t offset, std::span<std::byte> buf) {
    std::lock_guard lock(mutex_);
    std::memcpy(buf.data(), data_.data() + offset, buf.size());
    return ok();
}

Status MemDevice::do_write(std::uint64_t offset, std::span<const std::byte> buf) {
    std::lock_guard lock(mutex_);
    std::memcpy(data_.data() + offset, buf.data(), buf.size());
    return ok();
}

Status MemDevice::do_flush() {
    std::lock_guard lock(mutex_);
    ++flushes_;
    return ok();
}

Status MemDevice::do_discard(std::uint64_t offset, std::uint64_t len) {
    std::lock_guard lock(mutex_);
    std::fill_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), len, std::byte{0});
    return ok();
}

}  // namespace bcl
