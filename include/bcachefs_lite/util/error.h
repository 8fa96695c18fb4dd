// Error values for every layer. Errors are carried as values (Result<T>,
// Status) up to the FUSE boundary or a tool's main(), and only there turned
// into an errno or an exit code. An unchecked Result is a compile warning
// (outcome marks it [[nodiscard]]), an error with -Werror.
//
// Each Errc has a parent errno class (errc_to_errno), as bcachefs's private
// error codes do, so callers can branch on the precise reason while the VFS
// still sees a standard errno.
//
// Thread safety: values; no shared state.
#pragma once

#include <boost/outcome/result.hpp>
#include <string>
#include <utility>

namespace bcl {

enum class Errc {
    io,           // EIO: a device or file refused an I/O
    invalid,      // EINVAL: an argument or option that cannot be honoured
    no_space,     // ENOSPC: no bucket, no room
    not_found,    // ENOENT
    exists,       // EEXIST: e.g. a device that already holds a filesystem
    busy,         // EBUSY
    corrupt,      // EUCLEAN: a checksum or a structure does not verify
    foreign,      // EMEDIUMTYPE: someone else's format, or another cache's
    unsupported,  // EOPNOTSUPP
    permission,   // EPERM
    shutdown,     // ESHUTDOWN: the object is stopping
    again,        // EAGAIN: would block and the caller asked not to wait
    stale,        // ESTALE: a pointer whose gen no longer matches
};

// The errno a caller outside the project sees for this code.
int errc_to_errno(Errc code);
const char* errc_name(Errc code);

struct Error {
    Errc code = Errc::io;
    // The errno that caused it, when a system call did; 0 otherwise.
    int sys_errno = 0;
    // One line a user can act on; no trailing newline.
    std::string message;

    // errno to hand to the kernel or to exit with: the system errno when one
    // caused this, else the parent class of code.
    int to_errno() const { return sys_errno != 0 ? sys_errno : errc_to_errno(code); }
};

Error make_error(Errc code, std::string message);
// An error from a failed system call: message is "what: strerror(err)".
Error sys_error(int err, const std::string& what);
Error sys_error(int err, Errc code, const std::string& what);

template <class T>
using Result = boost::outcome_v2::result<T, Error, boost::outcome_v2::policy::terminate>;
using Status = Result<void>;

inline Status ok() { return boost::outcome_v2::success(); }

}  // namespace bcl

// Returns early from a function returning Status or Result<U> when expr (a
// Status) failed.
#define BCL_TRY(expr)                                         \
    do {                                                      \
        auto bcl_try_status_ = (expr);                        \
        if (!bcl_try_status_) return bcl_try_status_.error(); \
    } while (0)
