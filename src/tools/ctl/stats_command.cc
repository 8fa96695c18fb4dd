// bcachefs-lite-ctl stats PATH [--json] [--watch [SECONDS] [--count N]]:
// what a mounted cache is doing, as its user.bcachefs_lite.* extended
// attributes say. It only reads attributes, so any user who may look at
// the mount may run it.
//
// PATH is the mount root or a file (or directory) inside the mount. The
// root is the inode that answers the `stats` attribute (no other does);
// any other inode of a mount with a cache open answers `cached_bytes`. A
// mount made with mode=none answers only `cache_mode` ("none") on its root;
// a file of such a mount answers nothing, and its mount root is found by
// walking up the directories while st_dev stays the same.
//
// --watch reads `stats` every SECONDS (default 1) and prints a line of
// rates over each interval, until --count lines were printed or SIGINT or
// SIGTERM arrives (taken through a signalfd, so a line is never cut in
// half; exit 0).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bcachefs_lite/fs/stats_xattrs.h"
#include "command.h"
#include "stats_view.h"

namespace bcl::ctl {

// Named, so that a unity build that puts this file next to another verb's
// keeps their helpers apart.
namespace stats_verb {
namespace {

using Clock = std::chrono::steady_clock;

// statfs(2)'s f_type of every FUSE file system.
constexpr long kFuseSuperMagic = 0x65735546;
constexpr std::string_view kStatsName = "stats";
constexpr std::string_view kDevicesName = "devices";
constexpr std::string_view kCachedBytesName = "cached_bytes";
constexpr std::string_view kDirtyBytesName = "dirty_bytes";
constexpr std::string_view kPinnedName = "pinned";
constexpr std::string_view kPinName = "pin";
// `devices` answers EAGAIN while a GC pass counts the buckets: tries, and
// the wait between them.
constexpr int kDevicesTries = 20;
constexpr std::chrono::milliseconds kDevicesRetry{50};
// --watch takes intervals from 10 ms to a day.
constexpr double kMinInterval = 0.01;
constexpr double kMaxInterval = 86400;

std::string xattr_name(std::string_view short_name) { return std::string(kStatsXattrPrefix) + std::string(short_name); }

// getxattr(path, prefix + short_name): the whole value, or the errno.
Result<std::string> read_xattr(const std::string& path, std::string_view short_name) {
    const std::string name = xattr_name(short_name);
    std::string value(256, '\0');
    for (int attempt = 0; attempt < 8; ++attempt) {
        const ssize_t n = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
        if (n >= 0) {
            value.resize(static_cast<std::size_t>(n));
            return value;
        }
        if (errno != ERANGE) return sys_error(errno, fmt::format("{} of {}", name, path));
        const ssize_t size = ::getxattr(path.c_str(), name.c_str(), nullptr, 0);
        if (size < 0) return sys_error(errno, fmt::format("{} of {}", name, path));
        value.resize(static_cast<std::size_t>(size) + 64);
    }
    return sys_error(ERANGE, fmt::format("{} of {}", name, path));
}

bool no_such_attr(const Error& e) { return e.sys_errno == ENODATA || e.sys_errno == ENOTSUP; }

Result<std::uint64_t> read_number(const std::string& path, std::string_view short_name) {
    auto text = read_xattr(path, short_name);
    if (!text) return text.error();
    auto value = parse_stat_value(text.value());
    if (!value)
        return make_error(Errc::invalid,
                          fmt::format("{} gives {} as '{}', not a number", path, xattr_name(short_name), text.value()));
    return *value;
}

// The top of the file system `path` is on: the last directory up from it
// on the same st_dev. Empty when a parent cannot be looked at.
std::string mount_root_of(const std::string& path) {
    char* real = ::realpath(path.c_str(), nullptr);
    if (real == nullptr) return {};
    std::string cur = real;
    std::free(real);
    struct stat st {};
    if (::stat(cur.c_str(), &st) != 0) return {};
    const dev_t dev = st.st_dev;
    while (cur != "/") {
        const std::size_t slash = cur.find_last_of('/');
        const std::string parent = slash == 0 ? "/" : cur.substr(0, slash);
        struct stat pst {};
        if (::stat(parent.c_str(), &pst) != 0) return {};
        if (pst.st_dev != dev) return cur;
        cur = parent;
    }
    return cur;
}

std::string local_time_now() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    char buf[16];
    if (::localtime_r(&now, &tm) == nullptr || std::strftime(buf, sizeof buf, "%H:%M:%S", &tm) == 0) return "-";
    return buf;
}

// --watch's value: seconds in [kMinInterval, kMaxInterval].
std::optional<double> parse_interval(const std::string& text) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(value) || value < kMinInterval || value > kMaxInterval)
        return std::nullopt;
    return value;
}

// What PATH turned out to be.
enum class Target { mount_root, file };

class StatsCommand final : public Subcommand {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* cmd = app.add_subcommand("stats", "Print the statistics of a mounted cache, or of a file in it");
        cmd->add_option("PATH", path_, "The root of a bcachefs-lite mount, or a file inside it");
        cmd->add_flag("--json", json_, "Print one JSON object instead of text (with --watch: one a line)");
        CLI::Option* watch =
            cmd->add_option("--watch", watch_, "Print the rates of the mount every SECONDS (default 1) until Ctrl-C")
                ->expected(0, 1)
                ->allow_extra_args(false)
                ->type_name("[SECONDS]");
        cmd->add_option("--count", count_, "With --watch: stop after N lines")
            ->type_name("N")
            ->check(CLI::Range(1, 1000000000))
            ->needs(watch);
        watch_option_ = watch;
        return cmd;
    }

    int run() override {
        if (int code = resolve_arguments(); code != kExitOk) return code;
        struct stat st {};
        if (::stat(path_.c_str(), &st) != 0)
            return fail(kExitFailure, fmt::format("{}: {}", path_, std::strerror(errno)));
        auto target = identify();
        if (!target) return fail(target.error());
        if (target.value() == Target::file) {
            if (interval_)
                return fail(kExitFailure,
                            fmt::format("{} is a file in a mount: --watch shows the rates of a whole mount, give "
                                        "its root{}",
                                        path_, root_.empty() ? std::string() : fmt::format(" ({})", root_)));
            return show_file(st);
        }
        if (interval_) return watch();
        return show_mount();
    }

private:
    // --watch SECONDS may have taken PATH: `stats --watch /mnt/fast`.
    int resolve_arguments() {
        if (watch_option_->count() > 0) {
            interval_ = 1.0;
            // CLI11 gives "" for --watch without a value before another option.
            if (!watch_.empty() && !watch_[0].empty()) {
                if (auto seconds = parse_interval(watch_[0])) {
                    interval_ = *seconds;
                } else if (path_.empty()) {
                    path_ = watch_[0];
                } else {
                    return fail(kExitUsage, fmt::format("--watch: '{}' is not a number of seconds from {} to {} "
                                                        "(see --help)",
                                                        watch_[0], kMinInterval, kMaxInterval));
                }
            }
        }
        if (path_.empty()) return fail(kExitUsage, "PATH is required: a mount root or a file in it (see --help)");
        return kExitOk;
    }

    // Whether path_ is a mount root or a file of a bcachefs-lite mount with
    // a cache open; else the one-line error.
    Result<Target> identify() {
        const std::string not_ours =
            fmt::format("{} is not in a bcachefs-lite mount (it has no user.bcachefs_lite.* statistics)", path_);
        struct statfs fs {};
        if (::statfs(path_.c_str(), &fs) != 0) return sys_error(errno, path_);
        if (fs.f_type != kFuseSuperMagic) return make_error(Errc::invalid, not_ours);
        auto stats = read_xattr(path_, kStatsName);
        if (stats) {
            stats_text_ = stats.value();
            return Target::mount_root;
        }
        if (!no_such_attr(stats.error())) return stats.error();
        auto cached = read_number(path_, kCachedBytesName);
        if (cached) {
            cached_ = cached.value();
            root_ = mount_root_of(path_);
            return Target::file;
        }
        if (!no_such_attr(cached.error())) return cached.error();
        // A mount without a cache open answers cache_mode on its root only.
        if (auto mode = read_xattr(path_, kCacheModeXattr); mode && mode.value() == "none")
            return make_error(Errc::unsupported, mode_none_message(path_, ""));
        const std::string root = mount_root_of(path_);
        if (!root.empty() && root != path_) {
            if (auto mode = read_xattr(root, kCacheModeXattr); mode && mode.value() == "none")
                return make_error(Errc::unsupported, mode_none_message(path_, root));
        }
        return make_error(Errc::invalid, not_ours);
    }

    static std::string mode_none_message(const std::string& path, const std::string& root) {
        const std::string where = root.empty() ? fmt::format("{} is a bcachefs-lite mount", path)
                                               : fmt::format("{} is in the bcachefs-lite mount at {}", path, root);
        return fmt::format(
            "{} made with mode=none: statistics are unavailable in mode none (no cache is open; "
            "mount it in another mode to use the cache)",
            where);
    }

    int show_file(const struct stat& st) {
        FileStats f;
        f.path = path_;
        f.mount_root = root_;
        f.regular = S_ISREG(st.st_mode);
        f.size = static_cast<std::uint64_t>(st.st_size);
        f.cached_bytes = cached_;
        auto dirty = read_number(path_, kDirtyBytesName);
        if (!dirty) return fail(dirty.error());
        f.dirty_bytes = dirty.value();
        auto pinned = read_number(path_, kPinnedName);
        if (!pinned) return fail(pinned.error());
        f.pinned_bytes = pinned.value();
        auto pin = read_number(path_, kPinName);
        if (!pin) return fail(pin.error());
        f.pin = pin.value() != 0;
        fmt::print("{}", json_ ? format_file_json(f) : format_file_text(f));
        return kExitOk;
    }

    int show_mount() {
        MountStats m;
        m.path = path_;
        auto values = parse_stat_lines(stats_text_);
        if (!values)
            return fail(kExitFailure, fmt::format("{}: user.bcachefs_lite.stats: {}", path_, values.error().message));
        m.values = std::move(values.value());
        auto mode = read_xattr(path_, kCacheModeXattr);
        if (!mode) return fail(mode.error());
        m.mode = mode.value();
        if (auto state = read_xattr(path_, kCacheStateXattr)) m.state = state.value();
        read_devices(m);
        fmt::print("{}", json_ ? format_mount_json(m) : format_mount_text(m));
        return kExitOk;
    }

    void read_devices(MountStats& m) {
        for (int attempt = 0; attempt < kDevicesTries; ++attempt) {
            auto text = read_xattr(path_, kDevicesName);
            if (!text && text.error().sys_errno == EAGAIN) {
                std::this_thread::sleep_for(kDevicesRetry);
                continue;
            }
            if (!text) {
                m.devices_unavailable = fmt::format("unavailable: {}", std::strerror(text.error().sys_errno));
                return;
            }
            auto rows = parse_devices(text.value());
            if (!rows) {
                m.devices_unavailable = fmt::format("unavailable: {}", rows.error().message);
                return;
            }
            m.devices = std::move(rows.value());
            return;
        }
        m.devices_unavailable = "unavailable: a GC pass was counting the buckets (try again)";
    }

    Result<StatValues> read_stats() {
        auto text = read_xattr(path_, kStatsName);
        if (!text)
            return make_error(text.error().code,
                              fmt::format("lost the mount at {}: {}", path_, std::strerror(text.error().sys_errno)));
        auto values = parse_stat_lines(text.value());
        if (!values)
            return make_error(Errc::invalid,
                              fmt::format("{}: user.bcachefs_lite.stats: {}", path_, values.error().message));
        return values;
    }

    int watch() {
        // SIGINT and SIGTERM end the watch between two lines.
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGINT);
        sigaddset(&signals, SIGTERM);
        if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0)
            return fail(kExitFailure, fmt::format("sigprocmask: {}", std::strerror(errno)));
        const int sfd = ::signalfd(-1, &signals, SFD_CLOEXEC);
        if (sfd < 0) return fail(kExitFailure, fmt::format("signalfd: {}", std::strerror(errno)));

        auto before = parse_stat_lines(stats_text_);
        if (!before) {
            ::close(sfd);
            return fail(kExitFailure, fmt::format("{}: user.bcachefs_lite.stats: {}", path_, before.error().message));
        }
        StatValues prev = std::move(before.value());
        const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*interval_));
        const Clock::time_point start = Clock::now();
        Clock::time_point prev_time = start;
        if (!json_) fmt::print("{}", watch_header());
        std::fflush(stdout);
        int code = kExitOk;
        for (std::uint64_t line = 1; !count_ || line <= *count_; ++line) {
            if (interrupted_before(sfd, start + interval * static_cast<Clock::rep>(line))) break;
            auto now_values = read_stats();
            const Clock::time_point now = Clock::now();
            if (!now_values) {
                code = fail(now_values.error());
                break;
            }
            const double seconds = std::chrono::duration<double>(now - prev_time).count();
            const WatchRates rates = watch_rates(prev, now_values.value(), seconds > 0 ? seconds : 1e-9);
            const std::string time = local_time_now();
            fmt::print("{}", json_ ? watch_json(time, rates) : watch_line(time, rates));
            std::fflush(stdout);
            prev = std::move(now_values.value());
            prev_time = now;
        }
        ::close(sfd);
        return code;
    }

    // Waits until `deadline`; true when SIGINT or SIGTERM came first.
    static bool interrupted_before(int sfd, Clock::time_point deadline) {
        for (;;) {
            const auto left = deadline - Clock::now();
            if (left <= Clock::duration::zero()) return false;
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
            struct timespec ts {};
            ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
            ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
            struct pollfd pfd {};
            pfd.fd = sfd;
            pfd.events = POLLIN;
            const int n = ::ppoll(&pfd, 1, &ts, nullptr);
            if (n > 0) {
                struct signalfd_siginfo info {};
                (void)!::read(sfd, &info, sizeof info);
                return true;
            }
            if (n < 0 && errno != EINTR) return false;
        }
    }

    std::string path_;
    bool json_ = false;
    std::vector<std::string> watch_;
    CLI::Option* watch_option_ = nullptr;
    std::optional<std::uint64_t> count_;
    std::optional<double> interval_;
    // Read while identifying path_.
    std::string stats_text_;
    std::uint64_t cached_ = 0;
    std::string root_;
};

}  // namespace
}  // namespace stats_verb

std::unique_ptr<Subcommand> make_stats_command() { return std::make_unique<stats_verb::StatsCommand>(); }

}  // namespace bcl::ctl
