#include "bcachefs_lite/fs/data_vec.h"

#include <utility>

namespace bcl {

void DataVec::add_fd(int fd, std::uint64_t offset, std::size_t len) {
    segments_.push_back(DataSegment{nullptr, fd, true, offset, len});
}

void DataVec::add_stream(int fd, std::size_t len) { segments_.push_back(DataSegment{nullptr, fd, false, 0, len}); }

void DataVec::add_memory(const std::byte* mem, std::size_t len) {
    segments_.push_back(DataSegment{mem, -1, true, 0, len});
}

void DataVec::add_owned(BufferLease buf, std::size_t len) {
    owned_.push_back(std::move(buf));
    add_memory(owned_.back().data(), len);
}

std::size_t DataVec::size() const {
    std::size_t total = 0;
    for (const auto& s : segments_) total += s.len;
    return total;
}

}  // namespace bcl
