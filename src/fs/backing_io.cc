#include "backing_io.h"

#include <fcntl.h>
#include <unistd.h>

#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/direct_io.h"
#include "bufvec.h"
#include "os_error.h"

namespace bcl {

Result<std::size_t> backing_write(int fd, int direct_fd, std::uint64_t offset, const DataVec& data) {
    if (direct_fd >= 0 && is_aligned(offset, kDirectAlignment) && is_aligned(data.size(), kDirectAlignment)) {
        AlignedBuffer gathered = AlignedBuffer::uninitialized(data.size(), kDirectAlignment);
        BCL_TRY(copy_to_memory(data, gathered.span()));
        return pwrite_all(fd, direct_fd, offset, gathered.span());
    }
    BufvecPtr src = to_fuse_bufvec(data);
    if (!src) return os_error(ENOMEM);
    fuse_bufvec dst = FUSE_BUFVEC_INIT(data.size());
    dst.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    dst.buf[0].fd = fd;
    dst.buf[0].pos = static_cast<off_t>(offset);
    const ssize_t n = fuse_buf_copy(&dst, src.get(), static_cast<fuse_buf_copy_flags>(0));
    if (n < 0) return os_error(static_cast<int>(-n));
    return static_cast<std::size_t>(n);
}

Status backing_flush(int fd) {
    const int dup_fd = ::dup(fd);
    if (dup_fd < 0) return last_os_error();
    if (::close(dup_fd) != 0) return last_os_error();
    return ok();
}

Status backing_fsync(int fd, bool datasync) {
    if ((datasync ? ::fdatasync(fd) : ::fsync(fd)) != 0) return last_os_error();
    return ok();
}

Result<std::uint64_t> backing_seek_data(int fd, std::uint64_t offset, int whence) {
    const off_t r = ::lseek(fd, static_cast<off_t>(offset), whence);
    if (r < 0) return last_os_error();
    return static_cast<std::uint64_t>(r);
}

Result<std::size_t> backing_copy_file_range(int fd_in, std::uint64_t offset_in, int fd_out, std::uint64_t offset_out,
                                            std::size_t length, unsigned flags) {
    loff_t off_in = static_cast<loff_t>(offset_in);
    loff_t off_out = static_cast<loff_t>(offset_out);
    const ssize_t n = ::copy_file_range(fd_in, &off_in, fd_out, &off_out, length, flags);
    if (n < 0) return last_os_error();
    return static_cast<std::size_t>(n);
}

}  // namespace bcl
