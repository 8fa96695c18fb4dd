#include "bcachefs_lite/util/error.h"

#include <cerrno>
#include <cstring>

namespace bcl {

int errc_to_errno(Errc code) {
    switch (code) {
    case Errc::io: return EIO;
    case Errc::invalid: return EINVAL;
    case Errc::no_space: return ENOSPC;
    case Errc::not_found: return ENOENT;
    case Errc::exists: return EEXIST;
    case Errc::busy: return EBUSY;
    case Errc::corrupt: return EUCLEAN;
    case Errc::foreign: return EMEDIUMTYPE;
    case Errc::unsupported: return EOPNOTSUPP;
    case Errc::permission: return EPERM;
    case Errc::shutdown: return ESHUTDOWN;
    case Errc::again: return EAGAIN;
    case Errc::stale: return ESTALE;
    }
    return EIO;
}

const char* errc_name(Errc code) {
    switch (code) {
    case Errc::io: return "io";
    case Errc::invalid: return "invalid";
    case Errc::no_space: return "no_space";
    case Errc::not_found: return "not_found";
    case Errc::exists: return "exists";
    case Errc::busy: return "busy";
    case Errc::corrupt: return "corrupt";
    case Errc::foreign: return "foreign";
    case Errc::unsupported: return "unsupported";
    case Errc::permission: return "permission";
    case Errc::shutdown: return "shutdown";
    case Errc::again: return "again";
    case Errc::stale: return "stale";
    }
    return "unknown";
}

Error make_error(Errc code, std::string message) { return Error{code, 0, std::move(message)}; }

static Errc errc_from_errno(int err) {
    switch (err) {
    case ENOENT: return Errc::not_found;
    case EEXIST: return Errc::exists;
    case ENOSPC:
    case EDQUOT: return Errc::no_space;
    case EINVAL: return Errc::invalid;
    case EBUSY: return Errc::busy;
    case EPERM:
    case EACCES:
    case EROFS: return Errc::permission;
    case EOPNOTSUPP: return Errc::unsupported;
    case EAGAIN: return Errc::again;
    default: return Errc::io;
    }
}

Error sys_error(int err, const std::string& what) { return sys_error(err, errc_from_errno(err), what); }

Error sys_error(int err, Errc code, const std::string& what) {
    return Error{code, err, what + ": " + std::strerror(err)};
}

}  // namespace bcl
