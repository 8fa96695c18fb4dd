#include "bcachefs_lite/util/direct_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "bcachefs_lite/util/aligned_buffer.h"

namespace bcl {

int open_direct_twin(int fd) {
    char path[40];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return ::open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

namespace {

// pwrite until done or an error; err is the errno that stopped it.
std::size_t pwrite_loop(int fd, const std::byte* data, std::size_t len, std::uint64_t offset, int& err) {
    std::size_t done = 0;
    err = 0;
    while (done < len) {
        const ssize_t n = ::pwrite(fd, data + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno;
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    return done;
}

}  // namespace

Result<std::size_t> pwrite_all(int fd, int direct_fd, std::uint64_t offset, std::span<const std::byte> data) {
    int err = 0;
    std::size_t done = 0;
    const bool direct = direct_fd >= 0 && !data.empty() && is_aligned(offset, kDirectAlignment) &&
                        is_aligned(data.size(), kDirectAlignment);
    if (direct) {
        AlignedBuffer copy;
        const std::byte* src = data.data();
        if (!is_aligned(src, kDirectAlignment)) {
            copy = AlignedBuffer::uninitialized(data.size(), kDirectAlignment);
            std::memcpy(copy.data(), data.data(), data.size());
            src = copy.data();
        }
        done = pwrite_loop(direct_fd, src, data.size(), offset, err);
        if (err != EINVAL || done != 0) {
            if (err != 0 && done == 0) return sys_error(err, "write of the backing file");
            return done;
        }
    }
    done = pwrite_loop(fd, data.data(), data.size(), offset, err);
    if (err != 0 && done == 0) return sys_error(err, "write of the backing file");
    return done;
}

}  // namespace bcl
