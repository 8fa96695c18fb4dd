#include "bcachefs_lite/fs/cached_file_data.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <vector>

#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/index/index_batch.h"
#include "backing_io.h"
#include "bufvec.h"
#include "os_error.h"

namespace bcl {

namespace {

class CachedHandle final : public FileData::Handle {
public:
    // O_SYNC includes O_DSYNC's bit; either makes every write durable
    // before it returns.
    CachedHandle(BackingFile& backing, std::shared_ptr<CachedFile> file, int flags, std::uint64_t writer)
        : Handle(backing, flags),
          file_(std::move(file)),
          write_flags_{.append = (flags & O_APPEND) != 0,
                       .sync = (flags & (O_SYNC | O_DSYNC)) != 0,
                       .direct_fd = direct_fd(),
                       .writer = writer} {}
    CachedFile& file() { return *file_; }
    const std::shared_ptr<CachedFile>& shared() const { return file_; }
    WriteFlags write_flags() const { return write_flags_; }
    ReadFlags read_flags() const { return ReadFlags{.writer = write_flags_.writer}; }

private:
    std::shared_ptr<CachedFile> file_;
    const WriteFlags write_flags_;
};

CachedHandle& cached(FileData::Handle& h) { return static_cast<CachedHandle&>(h); }

// The end of [offset, offset + length); UINT64_MAX (end of file) when that
// does not fit.
std::uint64_t range_end(std::uint64_t offset, std::uint64_t length) {
    return length > UINT64_MAX - offset ? UINT64_MAX : offset + length;
}

}  // namespace

Result<std::unique_ptr<FileData::Handle>> CachedFileData::open(BackingFile& backing, const struct statx& stx,
                                                               int flags) {
    auto fd = backing.fd();
    if (!fd) return fd.error();
    auto file = cache_.open_file(fd.value(), stx);
    if (!file) {
        log_.error("open: {}", file.error().message);
        return os_error(EIO);
    }
    return std::unique_ptr<Handle>(std::make_unique<CachedHandle>(
        backing, std::move(file).value(), flags, next_writer_.fetch_add(1, std::memory_order_relaxed)));
}

Result<std::unique_ptr<FileData::Handle>> CachedFileData::open_checked(BackingFile& backing, const struct statx& stx,
                                                                       std::int64_t checked_ns, int flags) {
    return handle_of(backing, cache_.open_checked_file(stx, checked_ns), flags);
}

Result<std::unique_ptr<FileData::Handle>> CachedFileData::open_offline(BackingFile& backing, const struct statx& stx,
                                                                       int flags) {
    return handle_of(backing, cache_.open_offline_file(stx), flags);
}

Result<std::unique_ptr<FileData::Handle>> CachedFileData::handle_of(BackingFile& backing,
                                                                    Result<std::shared_ptr<CachedFile>> file,
                                                                    int flags) {
    if (!file) {
        log_.error("open: {}", file.error().message);
        return os_error(EIO);
    }
    if (!file.value()) return std::unique_ptr<Handle>();
    return std::unique_ptr<Handle>(std::make_unique<CachedHandle>(
        backing, std::move(file).value(), flags, next_writer_.fetch_add(1, std::memory_order_relaxed)));
}

Result<DataVec> CachedFileData::read(Handle& handle, std::uint64_t offset, std::size_t size) {
    DataVec out;
    if (size == 0) return out;
    // Page-aligned, so the cache device reads straight into it, and the
    // reply is sent from it.
    BufferLease buf;
    try {
        buf = read_buffers_.take(size);
    } catch (const std::bad_alloc&) {
        return os_error(ENOMEM);
    }
    CachedHandle& h = cached(handle);
    auto n = cache_.read(h.file(), handle.backing(), offset, buf.span(), h.read_flags());
    if (!n) return n.error();
    if (n.value() != 0) out.add_owned(std::move(buf), n.value());
    return out;
}

Result<std::size_t> CachedFileData::write(Handle& handle, std::uint64_t offset, const DataVec& data) {
    CachedHandle& h = cached(handle);
    // The engine takes contiguous bytes: a request in one memory segment is
    // passed as it is; one spliced into a pipe, or in pieces, is gathered.
    std::span<const std::byte> bytes;
    std::unique_ptr<std::byte[]> gathered;
    const auto& segments = data.segments();
    if (segments.size() == 1 && !segments[0].is_fd()) {
        bytes = {segments[0].mem, segments[0].len};
    } else if (!data.empty()) {
        gathered.reset(new (std::nothrow) std::byte[data.size()]);
        if (!gathered) return os_error(ENOMEM);
        BCL_TRY(copy_to_memory(data, std::span(gathered.get(), data.size())));
        bytes = {gathered.get(), data.size()};
    }
    auto fd = h.fd();
    if (!fd) return fd.error();
    return cache_.write(h.file(), fd.value(), offset, bytes, h.write_flags());
}

Status CachedFileData::flush(Handle& handle) {
    const int fd = handle.backing().opened();
    return fd >= 0 ? backing_flush(fd) : ok();  // never opened: nothing to flush
}

Status CachedFileData::fsync(Handle& handle, bool datasync) {
    // Durable in the mode's sense: the backing file synced, and dirty data
    // on the cache device with its index entries (invariant 3).
    auto fd = handle.fd();
    if (!fd) return fd.error();
    return cache_.fsync(cached(handle).file(), fd.value(), datasync);
}

Status CachedFileData::truncate(Handle* handle, int path_fd, std::uint64_t size) {
    if (handle) {
        auto fd = handle->fd();
        if (!fd) return fd.error();
        return cache_.truncate(&cached(*handle).file(), fd.value(), size);
    }
    return cache_.truncate(nullptr, path_fd, size);
}

Status CachedFileData::fallocate(Handle& handle, int mode, std::uint64_t offset, std::uint64_t length) {
    auto fd = handle.fd();
    if (!fd) return fd.error();
    return cache_.fallocate(cached(handle).file(), fd.value(), mode, offset, length);
}

Result<std::uint64_t> CachedFileData::seek_data(Handle& handle, std::uint64_t offset, int whence) {
    // The backing file's holes are the file's only once the dirty data from
    // offset on is in it.
    auto fd = handle.fd();
    if (!fd) return fd.error();
    BCL_TRY(cache_.write_back_range(cached(handle).file(), fd.value(), offset, UINT64_MAX));
    return backing_seek_data(fd.value(), offset, whence);
}

Result<std::size_t> CachedFileData::copy_file_range(Handle& in, std::uint64_t offset_in, Handle& out,
                                                    std::uint64_t offset_out, std::size_t length, unsigned flags) {
    CachedHandle& i = cached(in);
    CachedHandle& o = cached(out);
    // The kernel copies backing bytes to backing bytes: the source's dirty
    // data must be in its backing file first. The destination's dirty data
    // is dealt with by write_backing(), under the file's lock.
    auto in_fd = i.fd();
    if (!in_fd) return in_fd.error();
    auto out_fd = o.fd();
    if (!out_fd) return out_fd.error();
    BCL_TRY(cache_.write_back_range(i.file(), in_fd.value(), offset_in, range_end(offset_in, length)));
    return cache_.write_backing(o.file(), out_fd.value(), offset_out, range_end(offset_out, length), [&] {
        return backing_copy_file_range(in_fd.value(), offset_in, out_fd.value(), offset_out, length, flags);
    });
}

Status CachedFileData::save_state(std::string_view name, std::string_view bytes) {
    IndexBatch batch;
    batch.put_saved(name, bytes);
    auto committed = cache_.index().commit(batch, true);
    if (!committed) return committed.error();
    return ok();
}

Result<std::optional<std::string>> CachedFileData::saved_state(std::string_view name) {
    return cache_.index().get_saved(name);
}

void CachedFileData::release(std::unique_ptr<Handle> handle) {
    if (!handle) return;
    cache_.release_file(cached(*handle).shared());
    handle.reset();
}

void CachedFileData::unlinked(const FileKey& key, nlink_t links_left) { cache_.unlinked(key.dev, key.ino, links_left); }

void CachedFileData::metadata_changed(const FileKey&, const struct statx& before, const struct statx& after) {
    // A failed refresh leaves the record as it was: the next open sees the
    // file's new ctime and starts it afresh, which costs misses, never
    // correctness.
    if (auto r = cache_.metadata_changed(before, after); !r)
        log_.warn("keeping the cached data of a file after a metadata change: {}", r.error().message);
}

}  // namespace bcl
