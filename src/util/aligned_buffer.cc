#include "bcachefs_lite/util/aligned_buffer.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace bcl {

AlignedBuffer::AlignedBuffer(std::size_t size, std::size_t alignment, NoZeroing) : size_(size) {
    if (size == 0) return;
    void* p = nullptr;
    if (posix_memalign(&p, alignment, size) != 0) throw std::bad_alloc();
    data_ = static_cast<std::byte*>(p);
}

AlignedBuffer::AlignedBuffer(std::size_t size, std::size_t alignment) : AlignedBuffer(size, alignment, NoZeroing{}) {
    if (data_) std::memset(data_, 0, size);
}

AlignedBuffer AlignedBuffer::uninitialized(std::size_t size, std::size_t alignment) {
    return AlignedBuffer(size, alignment, NoZeroing{});
}

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
    if (this != &other) {
        std::free(data_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

bool is_aligned(const void* p, std::size_t alignment) { return reinterpret_cast<std::uintptr_t>(p) % alignment == 0; }

}  // namespace bcl
