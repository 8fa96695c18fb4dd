#include "bcachefs_lite/fs/backing_file.h"

#include <unistd.h>

namespace bcl {

BackingFile::~BackingFile() {
    if (const int fd = fd_.load(std::memory_order_acquire); fd >= 0) ::close(fd);
}

Result<int> BackingFile::fd() {
    if (const int fd = fd_.load(std::memory_order_acquire); fd >= 0) return fd;
    std::lock_guard lk(mutex_);
    if (const int fd = fd_.load(std::memory_order_acquire); fd >= 0) return fd;
    if (!open_) return make_error(Errc::invalid, "the open file has no backing descriptor");
    auto opened = open_();
    if (!opened) return opened.error();
    fd_.store(opened.value(), std::memory_order_release);
    return opened.value();
}

}  // namespace bcl
