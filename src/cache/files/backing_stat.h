// statx of backing files, and its timestamps as the nanoseconds file
// records keep.
//
// Thread safety: pure functions.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>

#include "bcachefs_lite/util/error.h"

namespace bcl {

inline std::int64_t ns_of(const struct statx_timestamp& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// Basic stats and, where the file system has it, the birth time.
inline Result<struct statx> statx_of(int fd) {
    struct statx stx;
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0)
        return sys_error(errno, "statx of the backing file");
    return stx;
}

}  // namespace bcl
