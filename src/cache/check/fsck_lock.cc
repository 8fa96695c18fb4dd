// check_index_unused(): whether a mounted cache (or anything else) holds
// an index open for writing, asked without taking or disturbing its lock.
//
// RocksDB locks the file LOCK in the index directory with a POSIX record
// lock for as long as a database is open for writing. F_OFD_GETLK asks
// whether a write lock could be taken, without taking one: an
// open-file-description lock conflicts with a process's record lock even
// when both belong to this process (a test holding an Index), and closing
// the descriptor afterwards releases nothing, which a plain F_GETLK/F_SETLK
// probe could not promise.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "bcachefs_lite/cache/fsck.h"

namespace bcl {

Status check_index_unused(const std::string& dir) {
    const std::string lock = dir + "/LOCK";
    const int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return ok();  // never opened for writing, or no index: Index::open says which
        return sys_error(errno, fmt::format("index {}", dir));
    }
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;
    const int rc = ::fcntl(fd, F_OFD_GETLK, &fl);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return sys_error(err, fmt::format("index {}: cannot probe its lock", dir));
    if (fl.l_type == F_UNLCK) return ok();
    const std::string holder = fl.l_pid > 0 ? fmt::format(" (process {})", fl.l_pid) : std::string();
    return make_error(Errc::busy, fmt::format("index {} is in use by another process{}: unmount the cache before "
                                              "running fsck",
                                              dir, holder));
}

}  // namespace bcl
