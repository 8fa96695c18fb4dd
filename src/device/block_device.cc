#include "bcachefs_lite/device/block_device.h"

#include <fmt/format.h>

#include "bcachefs_lite/util/aligned_buffer.h"

namespace bcl {

const char* io_kind_name(IoKind kind) {
    switch (kind) {
    case IoKind::read: return "read";
    case IoKind::write: return "write";
    case IoKind::flush: return "flush";
    case IoKind::discard: return "discard";
    }
    return "unknown";
}

Status BlockDevice::check_request(std::uint64_t offset, std::uint64_t len, const void* buf) const {
    const std::uint32_t lbs = logical_block_size();
    if (!is_aligned(offset, lbs) || !is_aligned(len, lbs))
        return make_error(Errc::invalid, fmt::format("{}: I/O at {}+{} is not aligned to the {}-byte logical block",
                                                     path(), offset, len, lbs));
    if (buf != nullptr && !is_aligned(buf, lbs))
        return make_error(Errc::invalid, fmt::format("{}: I/O buffer is not aligned to {} bytes", path(), lbs));
    if (offset > size() || len > size() - offset)
        return make_error(Errc::invalid,
                          fmt::format("{}: I/O at {}+{} reaches past the end ({} bytes)", path(), offset, len, size()));
    return ok();
}

Status BlockDevice::account(IoKind kind, std::uint64_t bytes, Status st) {
    const int k = static_cast<int>(kind);
    if (st) {
        calls_[k].fetch_add(1, std::memory_order_relaxed);
        bytes_[k].fetch_add(bytes, std::memory_order_relaxed);
    } else {
        errors_[k].fetch_add(1, std::memory_order_relaxed);
    }
    return st;
}

Status BlockDevice::read(std::uint64_t offset, std::span<std::byte> buf) {
    Status st = check_request(offset, buf.size(), buf.empty() ? nullptr : buf.data());
    if (st && !buf.empty()) st = do_read(offset, buf);
    return account(IoKind::read, buf.size(), std::move(st));
}

Status BlockDevice::write(std::uint64_t offset, std::span<const std::byte> buf) {
    Status st = check_request(offset, buf.size(), buf.empty() ? nullptr : buf.data());
    if (st && !buf.empty()) st = do_write(offset, buf);
    return account(IoKind::write, buf.size(), std::move(st));
}

Status BlockDevice::flush() { return account(IoKind::flush, 0, do_flush()); }

Status BlockDevice::discard(std::uint64_t offset, std::uint64_t len) {
    Status st = check_request(offset, len, nullptr);
    if (st && len != 0) st = do_discard(offset, len);
    return account(IoKind::discard, len, std::move(st));
}

IoStats BlockDevice::stats() const {
    IoStats s;
    for (int k = 0; k < kIoKinds; ++k) {
        s.calls[k] = calls_[k].load(std::memory_order_relaxed);
        s.bytes[k] = bytes_[k].load(std::memory_order_relaxed);
        s.errors[k] = errors_[k].load(std::memory_order_relaxed);
    }
    return s;
}

}  // namespace bcl
