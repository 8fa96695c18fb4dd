#include "bcachefs_lite/fs/passthrough_data.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "backing_io.h"
#include "os_error.h"

namespace bcl {

Result<std::unique_ptr<FileData::Handle>> PassthroughData::open(BackingFile& backing, const struct statx&, int flags) {
    return std::make_unique<Handle>(backing, flags);
}

Result<DataVec> PassthroughData::read(Handle& handle, std::uint64_t offset, std::size_t size) {
    // One descriptor segment: libfuse splices it into the reply (or preads
    // it when splice is unavailable), stopping short at end of file.
    auto fd = handle.fd();
    if (!fd) return fd.error();
    DataVec out;
    out.add_fd(fd.value(), offset, size);
    return out;
}

Result<std::size_t> PassthroughData::write(Handle& handle, std::uint64_t offset, const DataVec& data) {
    auto fd = handle.fd();
    if (!fd) return fd.error();
    return backing_write(fd.value(), handle.direct_fd(), offset, data);
}

Status PassthroughData::flush(Handle& handle) {
    const int fd = handle.backing().opened();
    return fd >= 0 ? backing_flush(fd) : ok();  // never opened: nothing to flush
}

Status PassthroughData::fsync(Handle& handle, bool datasync) {
    auto fd = handle.fd();
    if (!fd) return fd.error();
    return backing_fsync(fd.value(), datasync);
}

Status PassthroughData::truncate(Handle* handle, int path_fd, std::uint64_t size) {
    int r;
    if (handle) {
        auto fd = handle->fd();
        if (!fd) return fd.error();
        r = ::ftruncate(fd.value(), static_cast<off_t>(size));
    } else {
        char path[40];
        std::snprintf(path, sizeof path, "/proc/self/fd/%d", path_fd);
        r = ::truncate(path, static_cast<off_t>(size));
    }
    if (r != 0) return last_os_error();
    return ok();
}

Status PassthroughData::fallocate(Handle& handle, int mode, std::uint64_t offset, std::uint64_t length) {
    auto fd = handle.fd();
    if (!fd) return fd.error();
    if (::fallocate(fd.value(), mode, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0) {
        return last_os_error();
    }
    return ok();
}

Result<std::uint64_t> PassthroughData::seek_data(Handle& handle, std::uint64_t offset, int whence) {
    auto fd = handle.fd();
    if (!fd) return fd.error();
    return backing_seek_data(fd.value(), offset, whence);
}

Result<std::size_t> PassthroughData::copy_file_range(Handle& in, std::uint64_t offset_in, Handle& out,
                                                     std::uint64_t offset_out, std::size_t length, unsigned flags) {
    auto in_fd = in.fd();
    if (!in_fd) return in_fd.error();
    auto out_fd = out.fd();
    if (!out_fd) return out_fd.error();
    return backing_copy_file_range(in_fd.value(), offset_in, out_fd.value(), offset_out, length, flags);
}

void PassthroughData::release(std::unique_ptr<Handle> handle) { handle.reset(); }

void PassthroughData::unlinked(const FileKey&, nlink_t) {}

void PassthroughData::metadata_changed(const FileKey&, const struct statx&, const struct statx&) {}

}  // namespace bcl
