#include "bcachefs_lite/device/file_device.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bcachefs_lite/util/aligned_buffer.h"

namespace bcl {

namespace {

// The direct-I/O alignment of a regular file: what statx reports where the
// kernel and filesystem know (STATX_DIOALIGN), else one sector.
std::uint32_t file_dio_alignment(int fd) {
    std::uint32_t align = 512;
#ifdef STATX_DIOALIGN
    struct statx stx {};
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN)) {
        std::uint32_t a = std::max(stx.stx_dio_mem_align, stx.stx_dio_offset_align);
        if (is_power_of_two(a) && a > align && a <= 65536) align = a;
    }
#endif
    return align;
}

Error open_error(int err, const std::string& path) {
    switch (err) {
    case EBUSY: return sys_error(err, Errc::busy, path + " is in use (mounted, or held by another program)");
    case EINVAL: return sys_error(err, Errc::unsupported, path + ": direct I/O is not supported here");
    default: return sys_error(err, path);
    }
}

}  // namespace

Result<std::unique_ptr<FileDevice>> FileDevice::open(const std::string& path, const FileDeviceOptions& options) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return sys_error(errno, path);
    if (S_ISDIR(st.st_mode)) return make_error(Errc::invalid, path + " is a directory");
    const bool blk = S_ISBLK(st.st_mode);
    if (!blk && !S_ISREG(st.st_mode))
        return make_error(Errc::invalid, path + " is neither a block device nor a regular file");

    int flags = O_DIRECT | O_CLOEXEC | (options.read_only ? O_RDONLY : O_RDWR);
    if (blk && options.exclusive && !options.read_only) flags |= O_EXCL;
    int fd;
    do {
        fd = ::open(path.c_str(), flags);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return open_error(errno, path);

    auto fail = [&](Error e) {
        ::close(fd);
        return e;
    };
    if (::fstat(fd, &st) != 0) return fail(sys_error(errno, path));
    std::uint64_t size = 0;
    std::uint32_t lbs = 512;
    if (S_ISBLK(st.st_mode)) {
        if (::ioctl(fd, BLKGETSIZE64, &size) != 0) return fail(sys_error(errno, path + ": cannot get the device size"));
        int ssz = 0;
        if (::ioctl(fd, BLKSSZGET, &ssz) != 0)
            return fail(sys_error(errno, path + ": cannot get the logical block size"));
        if (ssz <= 0 || !is_power_of_two(static_cast<std::uint64_t>(ssz)))
            return fail(make_error(Errc::unsupported, fmt::format("{}: odd logical block size {}", path, ssz)));
        lbs = static_cast<std::uint32_t>(ssz);
    } else if (S_ISREG(st.st_mode)) {
        size = static_cast<std::uint64_t>(st.st_size);
        lbs = file_dio_alignment(fd);
    } else {
        return fail(make_error(Errc::invalid, path + " is neither a block device nor a regular file"));
    }
    // A file whose size is not a whole number of blocks: the tail is unused.
    size = round_down(size, lbs);
    return std::unique_ptr<FileDevice>(new FileDevice(fd, path, size, lbs, S_ISBLK(st.st_mode), options.read_only));
}

FileDevice::FileDevice(int fd, std::string path, std::uint64_t size, std::uint32_t lbs, bool block_device,
                       bool read_only)
    : fd_(fd), path_(std::move(path)), size_(size), lbs_(lbs), block_device_(block_device), read_only_(read_only) {}

FileDevice::~FileDevice() { ::close(fd_); }

Status FileDevice::check_writable(const char* what) const {
    if (!read_only_) return ok();
    return make_error(Errc::permission, fmt::format("{}: {} on a read-only open", path_, what));
}

Status FileDevice::do_read(std::uint64_t offset, std::span<std::byte> buf) {
    std::size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::pread(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error(errno, Errc::io, fmt::format("{}: read of {} bytes at {}", path_, buf.size(), offset));
        }
        if (n == 0)
            return make_error(Errc::io, fmt::format("{}: read at {} hit the end of the file "
                                                    "(was it truncated?)",
                                                    path_, offset + done));
        done += static_cast<std::size_t>(n);
    }
    return ok();
}

Status FileDevice::do_write(std::uint64_t offset, std::span<const std::byte> buf) {
    BCL_TRY(check_writable("write"));
    std::size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::pwrite(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error(errno, Errc::io, fmt::format("{}: write of {} bytes at {}", path_, buf.size(), offset));
        }
        if (n == 0) return make_error(Errc::io, fmt::format("{}: write at {} made no progress", path_, offset + done));
        done += static_cast<std::size_t>(n);
    }
    return ok();
}

Status FileDevice::do_flush() {
    BCL_TRY(check_writable("flush"));
    while (::fdatasync(fd_) != 0) {
        if (errno != EINTR) return sys_error(errno, Errc::io, path_ + ": flush");
    }
    return ok();
}

Status FileDevice::do_discard(std::uint64_t offset, std::uint64_t len) {
    BCL_TRY(check_writable("discard"));
    int rc;
    if (block_device_) {
        std::uint64_t range[2] = {offset, len};
        do {
            rc = ::ioctl(fd_, BLKDISCARD, &range);
        } while (rc != 0 && errno == EINTR);
    } else {
        do {
            rc = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                             static_cast<off_t>(len));
        } while (rc != 0 && errno == EINTR);
    }
    if (rc == 0) return ok();
    const int err = errno;
    const std::string what = fmt::format("{}: discard of {} bytes at {}", path_, len, offset);
    if (err == EOPNOTSUPP || err == ENOTTY) return sys_error(err, Errc::unsupported, what);
    return sys_error(err, Errc::io, what);
}

}  // namespace bcl
