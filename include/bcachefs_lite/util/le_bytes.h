// Little-endian integers in byte strings, for the small records the program
// saves outside the index (the GC snapshot, the fs layer's read grants):
// append_le writes one, LeReader reads them back and fails past the end.
//
// Thread safety: a LeReader is used by one thread; append_le is pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bcl {

template <class T>
void append_le(std::string& out, T value) {
    const auto v = static_cast<std::uint64_t>(value);
    for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class LeReader {
public:
    explicit LeReader(std::string_view bytes) : bytes_(bytes) {}

    // The next sizeof(T) bytes as a T; false, with `value` unchanged, past
    // the end.
    template <class T>
    bool get(T& value) {
        if (bytes_.size() - pos_ < sizeof(T)) return false;
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i)
            v |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes_[pos_ + i])) << (8 * i);
        pos_ += sizeof(T);
        value = static_cast<T>(v);
        return true;
    }
    std::size_t left() const { return bytes_.size() - pos_; }

private:
    std::string_view bytes_;
    std::size_t pos_ = 0;
};

}  // namespace bcl
