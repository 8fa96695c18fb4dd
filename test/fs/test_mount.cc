#include "test_mount.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bcachefs_lite/fs/mount_checks.h"

namespace bcl::test {
namespace {

namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::vector<char*> c_argv(std::vector<std::string>& args) {
    std::vector<char*> out;
    for (auto& a : args) out.push_back(a.data());
    out.push_back(nullptr);
    return out;
}

// In a forked child: stdin from /dev/null, stdout and stderr to `out_fd`.
void redirect_stdio(int out_fd) {
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(out_fd, STDERR_FILENO);
}

std::vector<std::string> mounts_below(const std::string& dir) {
    std::vector<std::string> found;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string field;
        for (int i = 0; i < 5 && fields >> field; ++i) {
        }
        std::string mnt = unescape_mountinfo_field(field);
        if (mnt.rfind(dir + "/", 0) == 0) found.push_back(mnt);
    }
    return found;
}

}  // namespace

std::string e2e_skip_reason() {
    if (::geteuid() != 0) return "end-to-end FUSE tests need root";
    if (::access("/dev/fuse", R_OK | W_OK) != 0) return "/dev/fuse is not available";
    if (daemon_path().empty()) return "BCACHEFS_LITE_DAEMON is not set (run the tests through meson test)";
    return {};
}

std::string daemon_path() {
    const char* path = std::getenv("BCACHEFS_LITE_DAEMON");
    return path ? path : "";
}

std::string installed_daemon() {
    for (const char* path : {"/usr/local/bin/bcachefs-lite", "/usr/bin/bcachefs-lite"}) {
        if (::access(path, X_OK) == 0) return path;
    }
    return {};
}

std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    int pidfd = pidfd_open(pid);
    if (pidfd < 0) return std::nullopt;
    pollfd pfd{pidfd, POLLIN, 0};
    auto deadline = Clock::now() + timeout;
    int n;
    do {
        n = ::poll(&pfd, 1, remaining_ms(deadline));
    } while (n < 0 && errno == EINTR);
    ::close(pidfd);
    if (n <= 0) return std::nullopt;
    if (::waitpid(pid, &status, 0) == pid) return status;
    return std::nullopt;
}

int wait_or_kill(pid_t pid, std::chrono::milliseconds timeout) {
    if (auto status = wait_exit(pid, timeout)) return *status;
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

bool RunResult::exited_with(int code) const { return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == code; }

int RunResult::exit_code() const { return !timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

RunResult run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    RunResult result;
    int out = ::memfd_create("stderr", MFD_CLOEXEC);
    if (out < 0) return result;
    std::vector<std::string> args = argv;
    std::vector<char*> cargs = c_argv(args);
    pid_t pid = ::fork();
    if (pid == 0) {
        redirect_stdio(out);
        ::execvp(cargs[0], cargs.data());
        ::_exit(127);
    }
    if (auto status = wait_exit(pid, timeout)) {
        result.status = *status;
    } else {
        result.timed_out = true;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &result.status, 0);
    }
    char buf[4096];
    ssize_t n;
    off_t pos = 0;
    while ((n = ::pread(out, buf, sizeof buf, pos)) > 0) {
        result.err.append(buf, static_cast<std::size_t>(n));
        pos += n;
    }
    ::close(out);
    return result;
}

bool is_mounted(const std::string& mnt, const std::string& fs_type) {
    auto mounted = is_mounted_as(mnt, fs_type);
    return mounted && mounted.value();
}

bool wait_for_mount(const std::string& mnt, std::chrono::milliseconds timeout, pid_t pid, const std::string& fs_type) {
    // Open before the first check: every change after this point wakes poll.
    int info = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (info < 0) return false;
    int pidfd = pid > 0 ? pidfd_open(pid) : -1;
    auto deadline = Clock::now() + timeout;
    bool found = false;
    for (;;) {
        if (is_mounted(mnt, fs_type)) {
            found = true;
            break;
        }
        pollfd pfds[2] = {{info, POLLPRI, 0}, {pidfd, POLLIN, 0}};
        int n = ::poll(pfds, pidfd >= 0 ? 2 : 1, remaining_ms(deadline));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // timed out
        if (pidfd >= 0 && (pfds[1].revents & POLLIN)) {
            found = is_mounted(mnt, fs_type);
            break;  // the daemon exited
        }
    }
    if (pidfd >= 0) ::close(pidfd);
    ::close(info);
    return found;
}

void unmount(const std::string& mnt) {
    run_program({"fusermount3", "-u", "-q", mnt});
    if (is_mounted(mnt)) ::umount2(mnt.c_str(), MNT_DETACH);
}

int run_as(uid_t uid, gid_t gid, const std::function<int()>& body) {
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(250);
        ::_exit(body() & 0xff);
    }
    int status = wait_or_kill(pid, kExitTimeout);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run_in_child(const std::function<int()>& body) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(body() & 0xff);
    int status = wait_or_kill(pid, kExitTimeout);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TempDir::TempDir() {
    std::string tmpl = (stdfs::temp_directory_path() / "bcl-fs-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) {
        path_ = tmpl;
        ::chmod(path_.c_str(), 0755);
    }
}

TempDir::~TempDir() {
    if (path_.empty()) return;
    for (const std::string& mnt : mounts_below(path_)) ::umount2(mnt.c_str(), MNT_DETACH);
    std::error_code ec;
    stdfs::remove_all(path_, ec);
}

namespace {

MountSpec spec_with(const std::string& options) {
    MountSpec spec;
    spec.options = options;
    return spec;
}

}  // namespace

TestMount::TestMount(const std::string& options) : TestMount(spec_with(options)) {}

TestMount::TestMount(const MountSpec& spec) : TestMount(spec, Deferred{}) {
    if (error_.empty()) start();
}

TestMount::TestMount(const MountSpec& spec, Deferred) : spec_(spec) { prepare(); }

void TestMount::prepare() {
    if (base_.path().empty()) {
        error_ = "cannot create a temporary directory";
        return;
    }
    backing_ = base() + "/b/src";
    mnt_ = base() + "/mnt";
    std::error_code ec;
    stdfs::create_directories(backing_, ec);
    stdfs::create_directories(mnt_, ec);
    for (const std::string& dir : {base() + "/b", backing_, mnt_}) ::chmod(dir.c_str(), 0755);
}

std::string TestMount::option_string() const {
    std::string opts = "cache=" + cache_path();
    if (!spec_.cache_size.empty()) opts += ",cache_size=" + spec_.cache_size;
    if (spec_.index_in_base) opts += ",index=" + index_path();
    if (!spec_.bypass.empty()) opts += "," + spec_.bypass;
    if (!spec_.options.empty()) opts += "," + spec_.options;
    return opts;
}

bool TestMount::start() {
    if (base_.path().empty()) return false;
    if (pid_ > 0) {
        error_ = "the daemon is already running";
        return false;
    }
    error_.clear();
    std::vector<std::string> args = spec_.launcher;
    for (std::string arg : {daemon_path(), std::string("-f"), backing_, mnt_, std::string("-o"), option_string()})
        args.push_back(std::move(arg));
    std::vector<char*> cargs = c_argv(args);
    int log = ::open((base() + "/daemon.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
        redirect_stdio(log);
        ::execvp(cargs[0], cargs.data());
        ::_exit(127);
    }
    if (log >= 0) ::close(log);
    if (pid_ < 0 || !wait_for_mount(mnt_, kMountTimeout, pid_)) {
        error_ = "the daemon did not mount " + mnt_ + "; its output: " + daemon_log();
        stop();
        return false;
    }
    return true;
}

std::optional<int> TestMount::kill_daemon(int sig) {
    if (pid_ <= 0) return std::nullopt;
    ::kill(pid_, sig);
    std::optional<int> status = wait_exit(pid_, kExitTimeout);
    if (!status) {
        ::kill(pid_, SIGKILL);
        int killed = 0;
        ::waitpid(pid_, &killed, 0);
        status = killed;
    }
    pid_ = -1;
    if (is_mounted(mnt_)) unmount(mnt_);
    return status;
}

TestMount::~TestMount() { stop(); }

std::string TestMount::daemon_log() const { return read_file(base() + "/daemon.log").value_or(""); }

std::optional<int> TestMount::stop() {
    if (pid_ <= 0) return std::nullopt;
    if (is_mounted(mnt_)) unmount(mnt_);
    std::optional<int> status = wait_exit(pid_, kExitTimeout);
    if (!status) {
        ::kill(pid_, SIGKILL);
        int killed = 0;
        ::waitpid(pid_, &killed, 0);
    }
    pid_ = -1;
    if (is_mounted(mnt_)) ::umount2(mnt_.c_str(), MNT_DETACH);
    return status;
}

std::optional<std::string> read_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    if (n < 0) return std::nullopt;
    return out;
}

bool write_file(const std::string& path, const std::string& data, mode_t mode) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return false;
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    return ::close(fd) == 0 && ok;
}

}  // namespace bcl::test
