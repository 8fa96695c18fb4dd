// BufferPool: page-aligned buffers of one capacity, handed out and taken
// back, so that a busy read path does not map, fault in and unmap fresh
// memory for every request. A large allocation is mmap'd by malloc and
// given back on free: for 1 MiB read replies that costs more than the read
// itself copies.
//
// At most `max_idle` buffers wait in the pool; one given back beyond that is
// freed, so the pool holds no more than max_idle * capacity bytes between
// bursts. A request over the capacity gets a buffer of its own, freed when
// its lease ends.
//
// Thread safety: take() and the leases' ends may run on any threads. The
// pool must outlive every lease it gave.
#pragma once

#include <cstddef>
#include <mutex>
#include <span>
#include <vector>

#include "bcachefs_lite/util/aligned_buffer.h"

namespace bcl {

class BufferPool;

// The use of one buffer, with the bytes asked for; it goes back to its pool
// (if it came from one) when the lease ends.
class BufferLease {
public:
    BufferLease() = default;
    // A buffer that belongs to no pool: freed at the end of the lease.
    BufferLease(AlignedBuffer buf, std::size_t size) : buf_(std::move(buf)), size_(size) {}
    ~BufferLease();
    BufferLease(BufferLease&& other) noexcept;
    BufferLease& operator=(BufferLease&& other) noexcept;
    BufferLease(const BufferLease&) = delete;
    BufferLease& operator=(const BufferLease&) = delete;

    std::byte* data() { return buf_.data(); }
    const std::byte* data() const { return buf_.data(); }
    std::size_t size() const { return size_; }
    std::span<std::byte> span() { return {buf_.data(), size_}; }

private:
    friend class BufferPool;
    BufferLease(BufferPool* pool, AlignedBuffer buf, std::size_t size)
        : pool_(pool), buf_(std::move(buf)), size_(size) {}
    void give_back();

    BufferPool* pool_ = nullptr;
    AlignedBuffer buf_;
    std::size_t size_ = 0;
};

class BufferPool {
public:
    BufferPool(std::size_t capacity, std::size_t max_idle);

    // `size` bytes, not zeroed. Throws std::bad_alloc like AlignedBuffer.
    BufferLease take(std::size_t size);

    std::size_t idle() const;

private:
    friend class BufferLease;
    void give_back(AlignedBuffer buf);

    const std::size_t capacity_;
    const std::size_t max_idle_;
    mutable std::mutex mutex_;
    std::vector<AlignedBuffer> idle_;  // guarded by mutex_
};

}  // namespace bcl
