#include "files/file_handle.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace bcl {

namespace {

struct HandleBuffer {
    HandleBuffer() : bytes(sizeof(struct file_handle) + kMaxFileHandleBytes) {
        get()->handle_bytes = kMaxFileHandleBytes;
    }
    struct file_handle* get() {
        return reinterpret_cast<struct file_handle*>(bytes.data());
    }
    // Aligned for struct file_handle by operator new.
    std::vector<unsigned char> bytes;
};

}  // namespace

Result<DirtyFileRecord> file_handle_of(int fd, const FileIdentity& id) {
    HandleBuffer h;
    int mount_id = 0;
    if (::name_to_handle_at(fd, "", h.get(), &mount_id, AT_EMPTY_PATH) != 0)
        return sys_error(errno, "file handle of a backing file");
    DirtyFileRecord r;
    r.dev = id.dev;
    r.ino = id.ino;
    r.btime_ns = id.btime_ns;
    r.handle_type = h.get()->handle_type;
    r.handle.assign(reinterpret_cast<const char*>(h.get()->f_handle), h.get()->handle_bytes);
    return r;
}

Result<int> open_file_handle(int root_fd, const DirtyFileRecord& record, int flags) {
    HandleBuffer h;
    h.get()->handle_type = record.handle_type;
    h.get()->handle_bytes = static_cast<unsigned>(record.handle.size());
    std::memcpy(h.get()->f_handle, record.handle.data(), record.handle.size());
    const int fd = ::open_by_handle_at(root_fd, h.get(), flags | O_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno == ESTALE || errno == ENOENT)
        return make_error(Errc::not_found,
                          fmt::format("backing file (dev {}, ino {}) is gone", record.dev, record.ino));
    return sys_error(errno, fmt::format("open of backing file (dev {}, ino {}) by handle", record.dev, record.ino));
}

Status check_file_handles(int root_fd) {
    // FUSE file systems hand out handles they can resolve only while the
    // inode is in their own cache: after a restart the file looks deleted.
    constexpr long kFuseSuperMagic = 0x65735546;
    struct statfs fs;
    if (::fstatfs(root_fd, &fs) != 0) return sys_error(errno, "statfs of the backing directory");
    if (fs.f_type == kFuseSuperMagic)
        return make_error(Errc::unsupported,
                          "the backing directory is on a FUSE file system, whose file "
                          "handles do not survive a restart");
    struct stat st;
    if (::fstat(root_fd, &st) != 0) return sys_error(errno, "stat of the backing directory");
    auto record = file_handle_of(root_fd, FileIdentity{st.st_dev, st.st_ino, 0});
    if (!record)
        return make_error(Errc::unsupported,
                          fmt::format("the backing directory's file system gives no file handles ({})",
                                      std::strerror(record.error().sys_errno)));
    auto fd = open_file_handle(root_fd, record.value(), O_RDONLY | O_DIRECTORY);
    if (!fd)
        return make_error(Errc::unsupported, fmt::format("files cannot be opened by handle ({}); that needs root "
                                                         "(CAP_DAC_READ_SEARCH)",
                                                         fd.error().message));
    ::close(fd.value());
    return ok();
}

}  // namespace bcl
