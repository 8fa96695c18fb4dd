// AlignedBuffer: an owned, zero-initialised (unless asked not to be) byte buffer whose address is a
// multiple of `alignment`, as O_DIRECT requires. Move-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace bcl {

class AlignedBuffer {
public:
    static constexpr std::size_t kDefaultAlignment = 4096;

    AlignedBuffer() = default;
    explicit AlignedBuffer(std::size_t size, std::size_t alignment = kDefaultAlignment);
    // Without the zeroing, for a buffer about to be filled whole by a read.
    // Throws std::bad_alloc like the constructor.
    static AlignedBuffer uninitialized(std::size_t size, std::size_t alignment = kDefaultAlignment);
    ~AlignedBuffer();
    AlignedBuffer(AlignedBuffer&& other) noexcept;
    AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;

    std::byte* data() { return data_; }
    const std::byte* data() const { return data_; }
    std::size_t size() const { return size_; }
    std::span<std::byte> span() { return {data_, size_}; }
    std::span<const std::byte> span() const { return {data_, size_}; }

private:
    struct NoZeroing {};
    AlignedBuffer(std::size_t size, std::size_t alignment, NoZeroing);

    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

// True when p, and len, are multiples of alignment.
bool is_aligned(const void* p, std::size_t alignment);
constexpr bool is_aligned(std::uint64_t v, std::uint64_t alignment) { return v % alignment == 0; }
constexpr std::uint64_t round_down(std::uint64_t v, std::uint64_t a) { return v / a * a; }
constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }
constexpr bool is_power_of_two(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }
constexpr std::uint64_t roundup_pow_of_two(std::uint64_t v) {
    std::uint64_t p = 1;
    while (p < v) p <<= 1;
    return p;
}

}  // namespace bcl
