#include "bcachefs_lite/fs/passthrough_data.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "backing_io.h"
#include "os_error.h"

namespace bcl {

Result<std::unique_ptr<FileData::Handle>> PassthroughData::open(int fd, const struct statx&, int flags) {
    return std::make_unique<Handle>(fd, flags);
}

Result<DataVec> PassthroughData::read(Handle& handle, std::uint64_t offset, std::size_t size) {
    // One descriptor segment: libfuse splices it into the reply (or preads
    // it when splice is unavailable), stopping short at end of file.
    DataVec out;
    out.add_fd(handle.fd(), offset, size);
    return out;
}

Result<std::size_t> PassthroughData::write(Handle& handle, std::uint64_t offset, const DataVec& data) {
    return backing_write(handle.fd(), handle.direct_fd(), offset, data);
}

Status PassthroughData::flush(Handle& handle) { return backing_flush(handle.fd()); }

Status PassthroughData::fsync(Handle& handle, bool datasync) { return backing_fsync(handle.fd(), datasync); }

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
    return backing_seek_data(handle.fd(), offset, whence);
}

Result<std::size_t> PassthroughData::copy_file_range(Handle& in, std::uint64_t offset_in, Handle& out,
                                                     std::uint64_t offset_out, std::size_t length, unsigned flags) {
    return backing_copy_file_range(in.fd(), offset_in, out.fd(), offset_out, length, flags);
}

void PassthroughData::release(std::unique_ptr<Handle> handle) { handle.reset(); }

void PassthroughData::unlinked(const FileKey&, nlink_t) {}

void PassthroughData::metadata_changed(const FileKey&, const struct statx&, const struct statx&) {}

}  // namespace bcl
