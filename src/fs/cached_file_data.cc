#include "bcachefs_lite/fs/cached_file_data.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "backing_io.h"
#include "os_error.h"

namespace bcl {

namespace {

class CachedHandle final : public FileData::Handle {
public:
    CachedHandle(int fd, std::shared_ptr<CachedFile> file, int flags)
        : Handle(fd), file_(std::move(file)), append_((flags & O_APPEND) != 0) {}
    CachedFile& file() { return *file_; }
    const std::shared_ptr<CachedFile>& shared() const { return file_; }
    bool append() const { return append_; }

private:
    std::shared_ptr<CachedFile> file_;
    const bool append_;
};

CachedHandle& cached(FileData::Handle& h) { return static_cast<CachedHandle&>(h); }

}  // namespace

Result<std::unique_ptr<FileData::Handle>> CachedFileData::open(int fd, const struct statx& stx, int flags) {
    auto file = cache_.open_file(fd, stx);
    if (!file) {
        log_.error("open: {}", file.error().message);
        return os_error(EIO);
    }
    return std::unique_ptr<Handle>(std::make_unique<CachedHandle>(fd, std::move(file).value(), flags));
}

Result<DataVec> CachedFileData::read(Handle& handle, std::uint64_t offset, std::size_t size) {
    DataVec out;
    if (size == 0) return out;
    std::unique_ptr<std::byte[]> buf(new (std::nothrow) std::byte[size]);
    if (!buf) return os_error(ENOMEM);
    auto n = cache_.read(cached(handle).file(), handle.fd(), offset, std::span(buf.get(), size));
    if (!n) return n.error();
    if (n.value() != 0) std::memcpy(out.add_owned(n.value()).data(), buf.get(), n.value());
    return out;
}

Result<std::size_t> CachedFileData::write(Handle& handle, std::uint64_t offset, const DataVec& data) {
    CachedHandle& h = cached(handle);
    if (auto st = cache_.revalidate(h.file(), h.fd()); !st) log_.warn("write: {}", st.error().message);
    std::uint64_t start = offset, end = offset + data.size();
    if (h.append()) {
        // O_APPEND writes land at end of file, wherever offset says.
        std::lock_guard lk(h.file().mutex);
        start = std::min<std::uint64_t>(offset, h.file().record.size);
        end = UINT64_MAX;
    }
    auto n = backing_write(handle.fd(), offset, data);
    // Even a failed write may have changed part of the range. A failed
    // invalidation makes the engine bypass the cache for the file, so the
    // write still stands.
    (void)cache_.written(h.file(), h.fd(), start, end);
    return n;
}

Status CachedFileData::flush(Handle& handle) { return backing_flush(handle.fd()); }

Status CachedFileData::fsync(Handle& handle, bool datasync) {
    // Writethrough: the data is durable once the backing file is.
    return backing_fsync(handle.fd(), datasync);
}

Status CachedFileData::truncate(Handle* handle, int path_fd, std::uint64_t size) {
    if (handle) return cache_.truncate(&cached(*handle).file(), handle->fd(), size);
    return cache_.truncate(nullptr, path_fd, size);
}

Status CachedFileData::fallocate(Handle& handle, int mode, std::uint64_t offset, std::uint64_t length) {
    return cache_.fallocate(cached(handle).file(), handle.fd(), mode, offset, length);
}

Result<std::uint64_t> CachedFileData::seek_data(Handle& handle, std::uint64_t offset, int whence) {
    return backing_seek_data(handle.fd(), offset, whence);
}

Result<std::size_t> CachedFileData::copy_file_range(Handle& in, std::uint64_t offset_in, Handle& out,
                                                    std::uint64_t offset_out, std::size_t length,
                                                    unsigned flags) {
    CachedHandle& o = cached(out);
    if (auto st = cache_.revalidate(o.file(), o.fd()); !st) log_.warn("copy_file_range: {}", st.error().message);
    auto n = backing_copy_file_range(in.fd(), offset_in, out.fd(), offset_out, length, flags);
    (void)cache_.written(o.file(), o.fd(), offset_out, offset_out + (n ? n.value() : length));
    return n;
}

void CachedFileData::release(std::unique_ptr<Handle> handle) {
    if (!handle) return;
    cache_.release_file(cached(*handle).shared());
    handle.reset();
}

void CachedFileData::unlinked(const FileKey& key, nlink_t links_left) {
    cache_.unlinked(key.dev, key.ino, links_left);
}

void CachedFileData::metadata_changed(const FileKey&, const struct statx& before, const struct statx& after) {
    // A failed refresh leaves the record as it was: the next open sees the
    // file's new ctime and starts it afresh, which costs misses, never
    // correctness.
    if (auto r = cache_.metadata_changed(before, after); !r)
        log_.warn("keeping the cached data of a file after a metadata change: {}", r.error().message);
}

}  // namespace bcl
