// bcl-slowfs: a FUSE passthrough of a directory that behaves like a slow,
// remote backing, for the end-to-end tests of bcachefs-lite in front of it:
//   - latency_us=N: every request waits N microseconds first (a round trip);
//   - it numbers inodes itself, as sshfs and rclone do (libfuse's high-level
//     API without use_ino): a file the kernel forgot comes back with a new
//     inode number;
//   - noxattr: extended attributes are not supported (ENOTSUP), as on sshfs;
//   - SIGUSR1 cuts it off (every request fails with ENOTCONN) and SIGUSR2
//     brings it back, as a network backing that stops answering;
//   - SIGURG stalls it (every request waits, unanswered, until SIGUSR2), as
//     a network backing whose server vanished without closing the
//     connection;
//   - it counts the requests of each kind; reading the file
//     /.slowfs-counters of the mount gives "name=count" lines (that read is
//     neither delayed nor counted, and works while cut off).
//
//     bcl-slowfs MOUNTPOINT -o source=DIR[,latency_us=N][,noxattr] [-f]
//
// Thread safety: libfuse's multi-threaded loop; the counters and switches
// are atomics.
#define FUSE_USE_VERSION 35
#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {

enum Op {
    kGetattr,
    kLookupLike,
    kReadlink,
    kMknod,
    kMkdir,
    kUnlink,
    kRmdir,
    kSymlink,
    kRename,
    kLink,
    kChmod,
    kChown,
    kTruncate,
    kOpen,
    kCreate,
    kRead,
    kWrite,
    kStatfs,
    kRelease,
    kFsync,
    kOpendir,
    kReaddir,
    kReleasedir,
    kAccess,
    kUtimens,
    kSetxattr,
    kGetxattr,
    kListxattr,
    kRemovexattr,
    kFallocate,
    kOpCount
};
constexpr const char* kOpNames[kOpCount] = {
    "getattr", "lookup",   "readlink", "mknod",     "mkdir",       "unlink",   "rmdir",      "symlink",
    "rename",  "link",     "chmod",    "chown",     "truncate",    "open",     "create",     "read",
    "write",   "statfs",   "release",  "fsync",     "opendir",     "readdir",  "releasedir", "access",
    "utimens", "setxattr", "getxattr", "listxattr", "removexattr", "fallocate"};
constexpr const char* kCountersPath = "/.slowfs-counters";

struct Options {
    const char* source = nullptr;
    unsigned latency_us = 0;
    int noxattr = 0;
};

// The one file system this process serves: libfuse's callbacks take no
// user data of their own but fuse_get_context()->private_data, set from it.
struct SlowFs {
    Options options;
    int root = -1;
    std::array<std::atomic<unsigned long>, kOpCount> counts{};
    std::atomic<bool> offline{false};
    // 1 while stalled; waited on and woken with futex(2) directly, which a
    // signal handler may call.
    std::atomic<int> stalled{0};
};

int* futex_word(std::atomic<int>& a) { return reinterpret_cast<int*>(&a); }

void wait_while_stalled(std::atomic<int>& stalled) {
    while (stalled.load(std::memory_order_acquire) != 0)
        ::syscall(SYS_futex, futex_word(stalled), FUTEX_WAIT_PRIVATE, 1, nullptr, nullptr, 0);
}

SlowFs& fs() { return *static_cast<SlowFs*>(fuse_get_context()->private_data); }

std::string rel(const char* path) { return path[1] == '\0' ? std::string(".") : std::string(path + 1); }

// Counts the request and waits its round trip, and while stalled until it
// is brought back; -ENOTCONN while cut off.
int enter(Op op) {
    SlowFs& f = fs();
    f.counts[op].fetch_add(1, std::memory_order_relaxed);
    wait_while_stalled(f.stalled);
    if (f.options.latency_us) std::this_thread::sleep_for(std::chrono::microseconds(f.options.latency_us));
    return f.offline.load(std::memory_order_acquire) ? -ENOTCONN : 0;
}

int err(int rc) { return rc < 0 ? -errno : 0; }

std::string counters_text() {
    std::string out;
    for (int i = 0; i < kOpCount; ++i)
        out += std::string(kOpNames[i]) + "=" + std::to_string(fs().counts[i].load()) + "\n";
    return out;
}

int do_getattr(const char* path, struct stat* st, fuse_file_info* fi) {
    if (std::strcmp(path, kCountersPath) == 0) {
        std::memset(st, 0, sizeof *st);
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = 4096;
        return 0;
    }
    if (int e = enter(kGetattr)) return e;
    if (fi) return err(::fstat(static_cast<int>(fi->fh), st));
    return err(::fstatat(fs().root, rel(path).c_str(), st, AT_SYMLINK_NOFOLLOW));
}

int do_readlink(const char* path, char* buf, size_t size) {
    if (int e = enter(kReadlink)) return e;
    const ssize_t n = ::readlinkat(fs().root, rel(path).c_str(), buf, size - 1);
    if (n < 0) return -errno;
    buf[n] = '\0';
    return 0;
}

int do_mknod(const char* path, mode_t mode, dev_t rdev) {
    if (int e = enter(kMknod)) return e;
    return err(::mknodat(fs().root, rel(path).c_str(), mode, rdev));
}
int do_mkdir(const char* path, mode_t mode) {
    if (int e = enter(kMkdir)) return e;
    return err(::mkdirat(fs().root, rel(path).c_str(), mode));
}
int do_unlink(const char* path) {
    if (int e = enter(kUnlink)) return e;
    return err(::unlinkat(fs().root, rel(path).c_str(), 0));
}
int do_rmdir(const char* path) {
    if (int e = enter(kRmdir)) return e;
    return err(::unlinkat(fs().root, rel(path).c_str(), AT_REMOVEDIR));
}
int do_symlink(const char* target, const char* path) {
    if (int e = enter(kSymlink)) return e;
    return err(::symlinkat(target, fs().root, rel(path).c_str()));
}
int do_rename(const char* from, const char* to, unsigned int flags) {
    if (int e = enter(kRename)) return e;
    return err(::renameat2(fs().root, rel(from).c_str(), fs().root, rel(to).c_str(), flags));
}
int do_link(const char* from, const char* to) {
    if (int e = enter(kLink)) return e;
    return err(::linkat(fs().root, rel(from).c_str(), fs().root, rel(to).c_str(), 0));
}
int do_chmod(const char* path, mode_t mode, fuse_file_info*) {
    if (int e = enter(kChmod)) return e;
    return err(::fchmodat(fs().root, rel(path).c_str(), mode, 0));
}
int do_chown(const char* path, uid_t uid, gid_t gid, fuse_file_info*) {
    if (int e = enter(kChown)) return e;
    return err(::fchownat(fs().root, rel(path).c_str(), uid, gid, AT_SYMLINK_NOFOLLOW));
}
int do_truncate(const char* path, off_t size, fuse_file_info* fi) {
    if (int e = enter(kTruncate)) return e;
    if (fi) return err(::ftruncate(static_cast<int>(fi->fh), size));
    const int fd = ::openat(fs().root, rel(path).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    const int rc = err(::ftruncate(fd, size));
    ::close(fd);
    return rc;
}
int do_utimens(const char* path, const struct timespec tv[2], fuse_file_info* fi) {
    if (int e = enter(kUtimens)) return e;
    if (fi) return err(::futimens(static_cast<int>(fi->fh), tv));
    return err(::utimensat(fs().root, rel(path).c_str(), tv, AT_SYMLINK_NOFOLLOW));
}

int do_open(const char* path, fuse_file_info* fi) {
    if (std::strcmp(path, kCountersPath) == 0) {
        fi->direct_io = 1;  // its size is not what it reads
        fi->fh = static_cast<uint64_t>(-1);
        return 0;
    }
    if (int e = enter(kOpen)) return e;
    const int fd = ::openat(fs().root, rel(path).c_str(), (fi->flags & ~O_NOFOLLOW) | O_CLOEXEC);
    if (fd < 0) return -errno;
    fi->fh = static_cast<uint64_t>(fd);
    return 0;
}
int do_create(const char* path, mode_t mode, fuse_file_info* fi) {
    if (int e = enter(kCreate)) return e;
    const int fd = ::openat(fs().root, rel(path).c_str(), fi->flags | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0) return -errno;
    fi->fh = static_cast<uint64_t>(fd);
    return 0;
}
int do_read(const char* path, char* buf, size_t size, off_t off, fuse_file_info* fi) {
    if (std::strcmp(path, kCountersPath) == 0) {
        const std::string text = counters_text();
        if (static_cast<size_t>(off) >= text.size()) return 0;
        const size_t n = std::min(size, text.size() - static_cast<size_t>(off));
        std::memcpy(buf, text.data() + off, n);
        return static_cast<int>(n);
    }
    if (int e = enter(kRead)) return e;
    const ssize_t n = ::pread(static_cast<int>(fi->fh), buf, size, off);
    return n < 0 ? -errno : static_cast<int>(n);
}
int do_write(const char*, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
    if (int e = enter(kWrite)) return e;
    const ssize_t n = ::pwrite(static_cast<int>(fi->fh), buf, size, off);
    return n < 0 ? -errno : static_cast<int>(n);
}
int do_statfs(const char*, struct statvfs* sv) {
    if (int e = enter(kStatfs)) return e;
    return err(::fstatvfs(fs().root, sv));
}
int do_release(const char*, fuse_file_info* fi) {
    if (fi->fh == static_cast<uint64_t>(-1)) return 0;
    fs().counts[kRelease].fetch_add(1, std::memory_order_relaxed);
    ::close(static_cast<int>(fi->fh));
    return 0;
}
int do_fsync(const char*, int datasync, fuse_file_info* fi) {
    if (int e = enter(kFsync)) return e;
    const int fd = static_cast<int>(fi->fh);
    return err(datasync ? ::fdatasync(fd) : ::fsync(fd));
}
int do_opendir(const char* path, fuse_file_info* fi) {
    if (int e = enter(kOpendir)) return e;
    const int fd = ::openat(fs().root, rel(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
        const int e = errno;
        ::close(fd);
        return -e;
    }
    fi->fh = reinterpret_cast<uint64_t>(dir);
    return 0;
}
int do_readdir(const char*, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info* fi, fuse_readdir_flags) {
    if (int e = enter(kReaddir)) return e;
    DIR* dir = reinterpret_cast<DIR*>(fi->fh);
    ::rewinddir(dir);
    while (struct dirent* d = ::readdir(dir)) {
        struct stat st {};
        st.st_mode = static_cast<mode_t>(DTTOIF(d->d_type));
        if (fill(buf, d->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0))) break;
    }
    return 0;
}
int do_releasedir(const char*, fuse_file_info* fi) {
    fs().counts[kReleasedir].fetch_add(1, std::memory_order_relaxed);
    ::closedir(reinterpret_cast<DIR*>(fi->fh));
    return 0;
}
int do_access(const char* path, int mask) {
    if (int e = enter(kAccess)) return e;
    return err(::faccessat(fs().root, rel(path).c_str(), mask, AT_EACCESS));
}
std::string proc_path(const char* path) { return "/proc/self/fd/" + std::to_string(fs().root) + "/" + rel(path); }
int do_setxattr(const char* path, const char* name, const char* value, size_t size, int flags) {
    if (int e = enter(kSetxattr)) return e;
    if (fs().options.noxattr) return -ENOTSUP;
    return err(::lsetxattr(proc_path(path).c_str(), name, value, size, flags));
}
int do_getxattr(const char* path, const char* name, char* value, size_t size) {
    if (int e = enter(kGetxattr)) return e;
    if (fs().options.noxattr) return -ENOTSUP;
    const ssize_t n = ::lgetxattr(proc_path(path).c_str(), name, value, size);
    return n < 0 ? -errno : static_cast<int>(n);
}
int do_listxattr(const char* path, char* list, size_t size) {
    if (int e = enter(kListxattr)) return e;
    if (fs().options.noxattr) return -ENOTSUP;
    const ssize_t n = ::llistxattr(proc_path(path).c_str(), list, size);
    return n < 0 ? -errno : static_cast<int>(n);
}
int do_removexattr(const char* path, const char* name) {
    if (int e = enter(kRemovexattr)) return e;
    if (fs().options.noxattr) return -ENOTSUP;
    return err(::lremovexattr(proc_path(path).c_str(), name));
}
int do_fallocate(const char*, int mode, off_t off, off_t len, fuse_file_info* fi) {
    if (int e = enter(kFallocate)) return e;
    return err(::fallocate(static_cast<int>(fi->fh), mode, off, len));
}

void* do_init(fuse_conn_info*, fuse_config* cfg) {
    cfg->use_ino = 0;        // inode numbers of its own, renumbered after a forget
    cfg->entry_timeout = 0;  // every lookup reaches it
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    return fuse_get_context()->private_data;
}

const fuse_operations kOps = [] {
    fuse_operations o{};
    o.getattr = do_getattr;
    o.readlink = do_readlink;
    o.mknod = do_mknod;
    o.mkdir = do_mkdir;
    o.unlink = do_unlink;
    o.rmdir = do_rmdir;
    o.symlink = do_symlink;
    o.rename = do_rename;
    o.link = do_link;
    o.chmod = do_chmod;
    o.chown = do_chown;
    o.truncate = do_truncate;
    o.open = do_open;
    o.read = do_read;
    o.write = do_write;
    o.statfs = do_statfs;
    o.release = do_release;
    o.fsync = do_fsync;
    o.setxattr = do_setxattr;
    o.getxattr = do_getxattr;
    o.listxattr = do_listxattr;
    o.removexattr = do_removexattr;
    o.opendir = do_opendir;
    o.readdir = do_readdir;
    o.releasedir = do_releasedir;
    o.init = do_init;
    o.access = do_access;
    o.create = do_create;
    o.utimens = do_utimens;
    o.fallocate = do_fallocate;
    return o;
}();

#define SLOWFS_OPT(t, p) \
    { t, offsetof(Options, p), 1 }
const fuse_opt kOptSpec[] = {
    {"source=%s", offsetof(Options, source), 0},
    {"latency_us=%u", offsetof(Options, latency_us), 0},
    SLOWFS_OPT("noxattr", noxattr),
    FUSE_OPT_END,
};

SlowFs* g_signal_target = nullptr;  // for the signal handlers only, set once before the loop

void cut_off(int) { g_signal_target->offline.store(true); }
void stall(int) { g_signal_target->stalled.store(1); }
void bring_back(int) {
    g_signal_target->offline.store(false);
    g_signal_target->stalled.store(0);
    ::syscall(SYS_futex, futex_word(g_signal_target->stalled), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace

int main(int argc, char** argv) {
    static SlowFs slowfs;
    fuse_args args = FUSE_ARGS_INIT(argc, argv);
    if (fuse_opt_parse(&args, &slowfs.options, kOptSpec, nullptr) != 0) return 1;
    if (!slowfs.options.source) {
        std::fprintf(stderr, "bcl-slowfs: missing -o source=DIR\n");
        return 1;
    }
    slowfs.root = ::open(slowfs.options.source, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (slowfs.root < 0) {
        std::fprintf(stderr, "bcl-slowfs: %s: %s\n", slowfs.options.source, std::strerror(errno));
        return 1;
    }
    g_signal_target = &slowfs;
    struct sigaction sa {};
    sa.sa_handler = cut_off;
    ::sigaction(SIGUSR1, &sa, nullptr);
    sa.sa_handler = bring_back;
    ::sigaction(SIGUSR2, &sa, nullptr);
    sa.sa_handler = stall;
    ::sigaction(SIGURG, &sa, nullptr);
    ::umask(0);
    const int rc = fuse_main(args.argc, args.argv, &kOps, &slowfs);
    fuse_opt_free_args(&args);
    return rc;
}
