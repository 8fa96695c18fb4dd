// DataVec: the bytes of one read reply or one write request, as a list of
// segments that are each either memory or a range of a file descriptor. A
// read can thus answer with a descriptor range that the kernel splices
// (no copy through the daemon), mixed with bytes held in memory; a write can
// hand over the pipe the kernel spliced the request into.
//
// Thread safety: a DataVec is a value owned by one request; it is not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "bcachefs_lite/util/buffer_pool.h"

namespace bcl {

struct DataSegment {
    // Memory segment: `len` bytes at `mem`. Used when fd < 0.
    const std::byte* mem = nullptr;
    // Descriptor segment: `len` bytes of `fd`, at `offset` when `seekable`,
    // else from the descriptor's current position (a pipe).
    int fd = -1;
    bool seekable = true;
    std::uint64_t offset = 0;
    std::size_t len = 0;

    bool is_fd() const { return fd >= 0; }
};

class DataVec {
public:
    DataVec() = default;
    DataVec(DataVec&&) noexcept = default;
    DataVec& operator=(DataVec&&) noexcept = default;
    DataVec(const DataVec&) = delete;
    DataVec& operator=(const DataVec&) = delete;

    // `len` bytes of fd at offset; fd must stay open until the reply is sent.
    void add_fd(int fd, std::uint64_t offset, std::size_t len);
    // `len` bytes read from fd's current position (a pipe).
    void add_stream(int fd, std::size_t len);
    // Borrowed memory: it must outlive this DataVec.
    void add_memory(const std::byte* mem, std::size_t len);
    // The first `len` bytes of `buf`, which this DataVec takes over: a
    // buffer read into in place, with no copy. It ends with this DataVec.
    void add_owned(BufferLease buf, std::size_t len);

    const std::vector<DataSegment>& segments() const { return segments_; }
    // Total length of all segments.
    std::size_t size() const;
    bool empty() const { return segments_.empty(); }

private:
    std::vector<DataSegment> segments_;
    std::vector<BufferLease> owned_;
};

}  // namespace bcl
