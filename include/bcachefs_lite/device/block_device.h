// BlockDevice: the seam in front of the cache device. Every byte the cache
// stores goes through it, so tests can swap in an in-memory twin
// (MemDevice) or a fault-injecting wrapper (FaultyDevice).
//
// I/O is direct: offsets and lengths must be multiples of
// logical_block_size() and buffers must start at an address aligned to it.
// A request that breaks this, or reaches past size(), returns Errc::invalid
// and touches nothing; it is never undefined behaviour. The checks and the
// counters live here, once; implementations only see valid requests.
//
// Thread safety: read, write, flush, discard and stats may be called
// concurrently from any thread. Concurrent writes to overlapping ranges
// leave either one's bytes, as a disk would.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "bcachefs_lite/util/error.h"

namespace bcl {

enum class IoKind { read = 0, write = 1, flush = 2, discard = 3 };
inline constexpr int kIoKinds = 4;
const char* io_kind_name(IoKind kind);

// A snapshot of a device's counters. `calls` counts successful requests,
// `errors` failed ones (including rejected, misaligned ones); `bytes` counts
// bytes moved (read, written or discarded) by successful requests.
struct IoStats {
    std::uint64_t calls[kIoKinds] = {};
    std::uint64_t bytes[kIoKinds] = {};
    std::uint64_t errors[kIoKinds] = {};

    std::uint64_t calls_of(IoKind k) const { return calls[static_cast<int>(k)]; }
    std::uint64_t bytes_of(IoKind k) const { return bytes[static_cast<int>(k)]; }
    std::uint64_t errors_of(IoKind k) const { return errors[static_cast<int>(k)]; }
};

class BlockDevice {
public:
    virtual ~BlockDevice() = default;
    BlockDevice(const BlockDevice&) = delete;
    BlockDevice& operator=(const BlockDevice&) = delete;

    [[nodiscard]] Status read(std::uint64_t offset, std::span<std::byte> buf);
    [[nodiscard]] Status write(std::uint64_t offset, std::span<const std::byte> buf);
    // Makes every write completed before the call durable.
    [[nodiscard]] Status flush();
    // Tells the device [offset, offset + len) is unused; later reads of it
    // return zeroes or the old bytes. Errc::unsupported where the device
    // cannot discard: callers treat that as "skip", not as a failure.
    [[nodiscard]] Status discard(std::uint64_t offset, std::uint64_t len);

    // Bytes addressable; fixed for the device's lifetime.
    virtual std::uint64_t size() const = 0;
    // The alignment direct I/O needs (offsets, lengths, buffer addresses).
    virtual std::uint32_t logical_block_size() const = 0;
    // A descriptor the kernel can splice from, or -1 when there is none.
    virtual int fd() const { return -1; }
    // What the device was opened as, for messages.
    virtual const std::string& path() const = 0;

    IoStats stats() const;

    // Errc::invalid unless [offset, offset + len) is aligned and inside the
    // device, and (when buf is non-null) buf is aligned. Empty requests pass.
    Status check_request(std::uint64_t offset, std::uint64_t len, const void* buf) const;

protected:
    BlockDevice() = default;

    virtual Status do_read(std::uint64_t offset, std::span<std::byte> buf) = 0;
    virtual Status do_write(std::uint64_t offset, std::span<const std::byte> buf) = 0;
    virtual Status do_flush() = 0;
    virtual Status do_discard(std::uint64_t offset, std::uint64_t len) = 0;

private:
    Status account(IoKind kind, std::uint64_t bytes, Status st);

    std::atomic<std::uint64_t> calls_[kIoKinds] = {};
    std::atomic<std::uint64_t> bytes_[kIoKinds] = {};
    std::atomic<std::uint64_t> errors_[kIoKinds] = {};
};

}  // namespace bcl
