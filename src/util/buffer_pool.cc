#include "bcachefs_lite/util/buffer_pool.h"

#include <utility>

namespace bcl {

BufferLease::~BufferLease() { give_back(); }

BufferLease::BufferLease(BufferLease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), buf_(std::move(other.buf_)), size_(std::exchange(other.size_, 0)) {}

BufferLease& BufferLease::operator=(BufferLease&& other) noexcept {
    if (this != &other) {
        give_back();
        pool_ = std::exchange(other.pool_, nullptr);
        buf_ = std::move(other.buf_);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void BufferLease::give_back() {
    if (pool_) std::exchange(pool_, nullptr)->give_back(std::move(buf_));
    buf_ = AlignedBuffer();
    size_ = 0;
}

BufferPool::BufferPool(std::size_t capacity, std::size_t max_idle) : capacity_(capacity), max_idle_(max_idle) {
    idle_.reserve(max_idle);
}

BufferLease BufferPool::take(std::size_t size) {
    if (size > capacity_) return BufferLease(AlignedBuffer::uninitialized(size), size);
    {
        std::lock_guard lk(mutex_);
        if (!idle_.empty()) {
            AlignedBuffer buf = std::move(idle_.back());
            idle_.pop_back();
            return BufferLease(this, std::move(buf), size);
        }
    }
    return BufferLease(this, AlignedBuffer::uninitialized(capacity_), size);
}

void BufferPool::give_back(AlignedBuffer buf) {
    std::lock_guard lk(mutex_);
    // Never grows past the reserve: a lease's end does not allocate.
    if (idle_.size() < max_idle_) idle_.push_back(std::move(buf));
    // Otherwise buf, a parameter, is freed after the lock is released.
}

std::size_t BufferPool::idle() const {
    std::lock_guard lk(mutex_);
    return idle_.size();
}

}  // namespace bcl
