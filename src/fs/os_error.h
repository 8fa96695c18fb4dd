// Errors from system calls on the request path: an Error carrying the errno
// and no message, so that frequent, expected failures (ENOENT on lookup)
// cost no allocation. Messages are for start-up and logs, built with
// sys_error() where they are wanted.
#pragma once

#include <cerrno>

#include "bcachefs_lite/util/error.h"

namespace bcl {

inline Error os_error(int err) {
    Errc code = Errc::io;
    switch (err) {
    case ENOENT: code = Errc::not_found; break;
    case EEXIST: code = Errc::exists; break;
    case EINVAL: code = Errc::invalid; break;
    case EPERM:
    case EACCES:
    case EROFS: code = Errc::permission; break;
    case ENOSPC:
    case EDQUOT: code = Errc::no_space; break;
    case EOPNOTSUPP: code = Errc::unsupported; break;
    case EBUSY: code = Errc::busy; break;
    case EAGAIN: code = Errc::again; break;
    default: break;
    }
    return Error{code, err, {}};
}

// The current errno as an Error.
inline Error last_os_error() { return os_error(errno); }

}  // namespace bcl
