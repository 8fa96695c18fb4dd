// Reading and writing a range of a backing file whole: short transfers and
// EINTR are not errors the callers want to see; a read stops only at the
// end of the file.
//
// Thread safety: none needed (plain pread and pwrite on a descriptor).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "bcachefs_lite/util/error.h"

namespace bcl {

// pread until len bytes or end of file; the bytes read.
inline Result<std::size_t> pread_full(int fd, std::byte* buf, std::size_t len, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < len) {
        const ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error(errno, "read of the backing file");
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return done;
}

// pwrite until all of len bytes are written, or an error.
inline Status pwrite_full(int fd, const std::byte* buf, std::size_t len, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < len) {
        const ssize_t n = ::pwrite(fd, buf + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error(errno, "write of the backing file");
        }
        done += static_cast<std::size_t>(n);
    }
    return ok();
}

}  // namespace bcl
