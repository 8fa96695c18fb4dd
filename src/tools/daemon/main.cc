// bcachefs-lite: the mount daemon.
//
//     bcachefs-lite SOURCE MOUNTPOINT -o cache=PATH[,OPTION...] [-f] [-d]
//
// This is also how mount(8) runs it, through mount.fuse3, for
// `mount -t fuse.bcachefs-lite` and fstab lines. Bad input is reported in one
// line on stderr before anything is changed; the exit status is then 1. Once
// mounted, the daemon detaches (unless -f) and its parent exits 0, so the
// caller finds the file system ready.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

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

constexpr int kExitUsage = 1;    // bad command line, options or paths; nothing changed
constexpr int kExitFailure = 2;  // the mount or the session failed

void print_error(std::string_view message) {
    std::string line = fmt::format("bcachefs-lite: {}\n", message);
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
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

    // The data path. The cache engine plugs in here as another FileData;
    // until then every mode serves data straight from the backing files.
    bcl::PassthroughData data;
    bcl::NoStatsXattrs stats;

    auto session = bcl::Session::create(options, data, stats, log);
    if (!session) {
        print_error(session.error().message);
        return kExitFailure;
    }
    if (auto mounted = session.value()->mount(); !mounted) {
        print_error(mounted.error().message);
        return kExitFailure;
    }
    if (!options.foreground) {
        if (auto detached = session.value()->detach(); !detached) {
            print_error(detached.error().message);
            return kExitFailure;
        }
        to_syslog.store(true);
    }
    log.info("mounted {} on {} (mode={})", options.source, options.mountpoint, bcl::cache_mode_name(options.mode));
    if (auto served = session.value()->run(); !served) {
        log.error("{}", served.error().message);
        return kExitFailure;
    }
    return 0;
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
