#include "bufvec.h"

#include <algorithm>

#include "os_error.h"

namespace bcl {

BufvecPtr to_fuse_bufvec(const DataVec& data) {
    const auto& segments = data.segments();
    std::size_t count = std::max<std::size_t>(segments.size(), 1);
    std::size_t bytes = sizeof(fuse_bufvec) + (count - 1) * sizeof(fuse_buf);
    BufvecPtr vec(static_cast<fuse_bufvec*>(std::calloc(1, bytes)));
    if (!vec) return vec;
    vec->count = segments.empty() ? 0 : segments.size();
    vec->idx = 0;
    vec->off = 0;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const DataSegment& s = segments[i];
        fuse_buf& b = vec->buf[i];
        b.size = s.len;
        if (s.is_fd()) {
            b.flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | (s.seekable ? FUSE_BUF_FD_SEEK : 0));
            b.fd = s.fd;
            b.pos = static_cast<off_t>(s.offset);
            b.mem = nullptr;
        } else {
            b.flags = static_cast<fuse_buf_flags>(0);
            b.fd = -1;
            b.mem = const_cast<std::byte*>(s.mem);
        }
    }
    return vec;
}

DataVec data_vec_from_fuse(const fuse_bufvec& in) {
    DataVec out;
    for (std::size_t i = in.idx; i < in.count; ++i) {
        const fuse_buf& b = in.buf[i];
        std::size_t skip = i == in.idx ? in.off : 0;
        if (skip >= b.size) continue;
        std::size_t len = b.size - skip;
        if (b.flags & FUSE_BUF_IS_FD) {
            if (b.flags & FUSE_BUF_FD_SEEK) {
                out.add_fd(b.fd, static_cast<std::uint64_t>(b.pos) + skip, len);
            } else {
                out.add_stream(b.fd, len);
            }
        } else {
            out.add_memory(static_cast<const std::byte*>(b.mem) + skip, len);
        }
    }
    return out;
}

Status copy_to_memory(const DataVec& data, std::span<std::byte> out) {
    if (out.size() != data.size()) return os_error(EINVAL);
    if (out.empty()) return ok();
    BufvecPtr src = to_fuse_bufvec(data);
    if (!src) return os_error(ENOMEM);
    fuse_bufvec dst = FUSE_BUFVEC_INIT(out.size());
    dst.buf[0].mem = out.data();
    const ssize_t n = fuse_buf_copy(&dst, src.get(), static_cast<fuse_buf_copy_flags>(0));
    if (n < 0) return os_error(static_cast<int>(-n));
    if (static_cast<std::size_t>(n) != out.size()) return os_error(EIO);
    return ok();
}

}  // namespace bcl
