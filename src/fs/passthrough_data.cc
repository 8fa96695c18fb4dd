#include "bcachefs_lite/fs/passthrough_data.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "bufvec.h"
#include "os_error.h"

namespace bcl {

Result<std::unique_ptr<FileData::Handle>> PassthroughData::open(int fd, const struct statx&, int) {
    return std::make_unique<Handle>(fd);
}

Result<DataVec> PassthroughData::read(Handle& handle, std::uint64_t offset, std::size_t size) {
    // One descriptor segment: libfuse splices it into the reply (or preads
    // it when splice is unavailable), stopping short at end of file.
    DataVec out;
    out.add_fd(handle.fd(), offset, size);
    return out;
}

Result<std::size_t> PassthroughData::write(Handle& handle, std::uint64_t offset, const DataVec& data) {
    BufvecPtr src = to_fuse_bufvec(data);
    if (!src) return os_error(ENOMEM);
    fuse_bufvec dst = FUSE_BUFVEC_INIT(data.size());
    dst.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    dst.buf[0].fd = handle.fd();
    dst.buf[0].pos = static_cast<off_t>(offset);
    ssize_t n = fuse_buf_copy(&dst, src.get(), static_cast<fuse_buf_copy_flags>(0));
    if (n < 0) return os_error(static_cast<int>(-n));
    return static_cast<std::size_t>(n);
}

Status PassthroughData::flush(Handle& handle) {
    // Closing a duplicate gives the backing file system its close(2), as the
    // application's close would (NFS flushes and checks for errors there).
    int dup_fd = ::dup(handle.fd());
    if (dup_fd < 0) return last_os_error();
    if (::close(dup_fd) != 0) return last_os_error();
    return ok();
}

Status PassthroughData::fsync(Handle& handle, bool datasync) {
    int r = datasync ? ::fdatasync(handle.fd()) : ::fsync(handle.fd());
    if (r != 0) return last_os_error();
    return ok();
}

Status PassthroughData::truncate(Handle* handle, int path_fd, std::uint64_t size) {
    int r;
    if (handle) {
        r = ::ftruncate(handle->fd(), static_cast<off_t>(size));
    } else {
        char path[40];
        std::snprintf(path, sizeof path, "/proc/self/fd/%d", path_fd);
        r = ::truncate(path, static_cast<off_t>(size));
    }
    if (r != 0) return last_os_error();
    return ok();
}

Status PassthroughData::fallocate(Handle& handle, int mode, std::uint64_t offset, std::uint64_t length) {
    if (::fallocate(handle.fd(), mode, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0) {
        return last_os_error();
    }
    return ok();
}

Result<std::uint64_t> PassthroughData::seek_data(Handle& handle, std::uint64_t offset, int whence) {
    off_t r = ::lseek(handle.fd(), static_cast<off_t>(offset), whence);
    if (r < 0) return last_os_error();
    return static_cast<std::uint64_t>(r);
}

Result<std::size_t> PassthroughData::copy_file_range(Handle& in, std::uint64_t offset_in, Handle& out,
                                                     std::uint64_t offset_out, std::size_t length,
                                                     unsigned flags) {
    loff_t off_in = static_cast<loff_t>(offset_in);
    loff_t off_out = static_cast<loff_t>(offset_out);
    ssize_t n = ::copy_file_range(in.fd(), &off_in, out.fd(), &off_out, length, flags);
    if (n < 0) return last_os_error();
    return static_cast<std::size_t>(n);
}

void PassthroughData::release(std::unique_ptr<Handle> handle) { handle.reset(); }

void PassthroughData::unlinked(const FileKey&, nlink_t) {}

void PassthroughData::renamed(const FileKey&) {}

}  // namespace bcl
