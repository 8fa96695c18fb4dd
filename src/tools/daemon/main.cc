// bcachefs-lite: the mount daemon.
//
//     bcachefs-lite SOURCE MOUNTPOINT -o cache=PATH[,OPTION...] [-f] [-d]
//
// This is also how mount(8) runs it, through mount.fuse3, for
// `mount -t fuse.bcachefs-lite` and fstab lines. Bad input is reported in one
// line on stderr before anything is changed; the exit status is then 1. Once
// mounted, the daemon detaches (unless -f) and its parent exits 0, so the
// caller finds the file system ready.
//
// The cache set (its RocksDB index and its background thread) is opened in
// the process that serves the mount: threads and file locks do not survive
// fork(). So without -f the daemon forks first; the child opens the cache,
// mounts and detaches, and reports back through a pipe, so that its parent
// exits 0 only with the mount ready, or prints the child's one-line error
// and exits with its status.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/cache/dirty_probe.h"
#include "bcachefs_lite/cache/name_table.h"
#include "bcachefs_lite/fs/cache_stats_xattrs.h"
#include "bcachefs_lite/fs/cached_file_data.h"
#include "bcachefs_lite/fs/identity.h"
#include "bcachefs_lite/fs/mount_checks.h"
#include "bcachefs_lite/fs/mount_options.h"
#include "bcachefs_lite/fs/passthrough_data.h"
#include "bcachefs_lite/fs/session.h"
#include "bcachefs_lite/fs/stats_xattrs.h"
#include "bcachefs_lite/util/log.h"

#ifndef BCL_VERSION
#define BCL_VERSION "unknown"
#endif

namespace {

constexpr int kExitUsage = 1;    // bad command line, options, paths or cache; nothing changed
constexpr int kExitFailure = 2;  // the mount or the session failed

void print_error(std::string_view message) {
    std::string line = fmt::format("bcachefs-lite: {}\n", message);
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

// How start-up ended, for the process waiting on it: the parent of a
// detaching daemon reads it from a pipe (status byte, then the message);
// in the foreground the message goes straight to stderr.
class Startup {
public:
    explicit Startup(int report_fd) : fd_(report_fd) {}
    bool detaching() const { return fd_ >= 0; }

    int fail(int code, std::string_view message) {
        if (fd_ < 0) {
            print_error(message);
        } else {
            send(static_cast<char>(code), message);
        }
        return code;
    }
    // The mount is ready: leave the terminal and let the parent exit 0.
    void succeed() {
        if (fd_ < 0) return;
        [[maybe_unused]] int r = ::chdir("/");
        int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd >= 0) {
            ::dup2(null_fd, STDIN_FILENO);
            ::dup2(null_fd, STDOUT_FILENO);
            ::dup2(null_fd, STDERR_FILENO);
            if (null_fd > STDERR_FILENO) ::close(null_fd);
        }
        send(0, {});
    }

private:
    void send(char code, std::string_view message) {
        std::string out(1, code);
        out += message;
        [[maybe_unused]] ssize_t n = ::write(fd_, out.data(), out.size());
        ::close(fd_);
        fd_ = -1;
    }
    int fd_;
};

// Opens the cache set as the options say. The set resolves file handles of
// files with dirty data against the backing root; it opens the directory
// again for itself, so the descriptor given is closed again.
bcl::Result<std::unique_ptr<bcl::CacheSet>> open_cache(const bcl::MountOptions& options, bcl::Identity identity,
                                                       bcl::Logger& log) {
    bcl::CacheSetOptions co;
    co.cache_paths = options.cache_paths;
    co.replicas = options.replicas;
    co.degraded = options.degraded;
    co.create_size = options.cache_size;
    co.index_dir = options.index;
    co.require_private_files = !options.allow_insecure_cache;
    co.replacement = options.replacement;
    co.discard = options.discard;
    co.tunables = options.tunables;
    co.caller_identities = identity == bcl::Identity::path;
    co.backing_root_fd = ::open(options.source.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (co.backing_root_fd < 0) {
        return bcl::sys_error(errno, fmt::format("cannot open the backing directory {}", options.source));
    }
    const int root_fd = co.backing_root_fd;
    auto opened = bcl::CacheSet::open(std::move(co), log);
    ::close(root_fd);
    return opened;
}

// How the mount recognises backing files (identity=), and why.
bcl::Result<bcl::IdentityChoice> pick_identity(const bcl::MountOptions& options) {
    auto type = bcl::file_system_type(options.source);
    if (!type) return type.error();
    return bcl::choose_identity(options.identity, options.tunables.mode, type.value());
}

// Opens the cache (unless mode=none), mounts and serves until unmounted.
int serve(bcl::MountOptions& options, bcl::Logger& log, std::atomic<bool>& to_syslog, Startup startup) {
    auto choice = pick_identity(options);
    if (!choice) return startup.fail(kExitUsage, choice.error().message);
    const bcl::Identity identity = choice.value().identity;
    // The data path: mode=none serves data straight from the backing files
    // and never opens the cache device; every other mode goes through the
    // cache, whose mode can then change at run time.
    std::unique_ptr<bcl::CacheSet> cache;
    std::unique_ptr<bcl::FileData> data;
    std::unique_ptr<bcl::StatsXattrs> stats;
    std::unique_ptr<bcl::NameTable> names;  // identity=path only
    if (options.tunables.mode == bcl::CacheMode::none) {
        // Dirty data is newer than the backing files: serving them instead
        // would return old bytes, and a later writeback would overwrite
        // whatever was written meanwhile.
        auto dirty = bcl::count_dirty_files(options.cache_paths.front(), options.index);
        if (!dirty)
            log.warn("cannot tell whether cache {} holds dirty data: {}", options.cache, dirty.error().message);
        else if (dirty.value() != 0)
            return startup.fail(kExitUsage,
                                fmt::format("cache {} holds dirty data of {} files that was never written back: "
                                            "mount with mode=writeback and run `bcachefs-lite-ctl flush` first",
                                            options.cache, dirty.value()));
        data = std::make_unique<bcl::PassthroughData>();
        stats = std::make_unique<bcl::NoStatsXattrs>();
    } else {
        auto opened = open_cache(options, identity, log);
        if (!opened) return startup.fail(kExitUsage, opened.error().message);
        cache = std::move(opened).value();
        data = std::make_unique<bcl::CachedFileData>(*cache, log);
        stats = std::make_unique<bcl::CacheStatsXattrs>(*cache, log, identity);
        if (identity == bcl::Identity::path) names = std::make_unique<bcl::NameTable>(cache->index());
    }

    int status = 0;
    {
        auto session = bcl::Session::create(options, *data, *stats, log, names.get());
        if (!session) return startup.fail(kExitFailure, session.error().message);
        if (auto mounted = session.value()->mount(); !mounted)
            return startup.fail(kExitFailure, mounted.error().message);
        if (startup.detaching()) to_syslog.store(true);
        startup.succeed();
        log.info("mounted {} on {} (mode={})", options.source, options.mountpoint,
                 bcl::cache_mode_name(options.tunables.mode));
        log.info("identity={}: {}", bcl::identity_name(identity), choice.value().reason);
        if (auto served = session.value()->run(); !served) {
            log.error("{}", served.error().message);
            status = kExitFailure;
        }
    }  // unmounted here; no request is in flight any more
    if (cache) {
        if (auto closed = cache->close(); !closed) {
            log.error("closing the cache: {}", closed.error().message);
            status = kExitFailure;
        }
    }
    return status;
}

// Forks; the child serves (and reports through the pipe), the parent waits
// for the report and exits with it.
int detach_and_serve(bcl::MountOptions& options, bcl::Logger& log, std::atomic<bool>& to_syslog) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        print_error(fmt::format("cannot detach from the terminal: pipe: {}", std::strerror(errno)));
        return kExitFailure;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        print_error(fmt::format("cannot detach from the terminal: fork: {}", std::strerror(errno)));
        return kExitFailure;
    }
    if (pid == 0) {
        ::close(fds[0]);
        ::setsid();
        return serve(options, log, to_syslog, Startup(fds[1]));
    }
    ::close(fds[1]);
    std::string report;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        report.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (report.empty()) {
        int wstatus = 0;
        ::waitpid(pid, &wstatus, 0);
        print_error("the daemon exited during start-up");
        return kExitFailure;
    }
    const int code = report[0];
    if (code != 0) {
        ::waitpid(pid, nullptr, 0);
        print_error(std::string_view(report).substr(1));
    }
    return code;
}

int run(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    auto cmd = bcl::parse_command_line(args);
    if (!cmd) {
        print_error(cmd.error().message);
        return kExitUsage;
    }
    if (cmd.value().action == bcl::CommandAction::help) {
        std::fputs(bcl::help_text("bcachefs-lite").c_str(), stdout);
        return 0;
    }
    if (cmd.value().action == bcl::CommandAction::version) {
        std::printf("bcachefs-lite %s\n", BCL_VERSION);
        return 0;
    }
    bcl::MountOptions& options = cmd.value().options;
    if (auto checked = bcl::check_mount_environment(options); !checked) {
        print_error(checked.error().message);
        return kExitUsage;
    }

    // Logs go to stderr until the daemon detaches, then to syslog.
    std::atomic<bool> to_syslog{false};
    bcl::Logger log(options.debug ? bcl::LogLevel::debug : bcl::LogLevel::info,
                    [&to_syslog](bcl::LogLevel level, std::string_view line) {
                        if (to_syslog.load(std::memory_order_relaxed)) {
                            bcl::Logger::syslog_sink(level, line);
                        } else {
                            bcl::Logger::stderr_sink(level, line);
                        }
                    });
    if (options.foreground) return serve(options, log, to_syslog, Startup(-1));
    return detach_and_serve(options, log, to_syslog);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        print_error(e.what());
        return kExitFailure;
    }
}
