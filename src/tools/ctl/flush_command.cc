// bcachefs-lite-ctl flush MOUNTPOINT [--timeout SECONDS]: writes back every
// dirty byte of a mounted cache and waits until none is left, so that the
// cache can be taken away (flush, then unmount).
//
// It talks to the daemon only through the extended attributes of the mount
// root: cache_mode says it is one (a FUSE mount whose root answers it),
// setting flush=1 starts the write-back at full speed, and dirty_data is
// polled until it reads 0, with progress on stdout: a bar redrawn in place
// on a terminal, else a plain line a second. Exit 0 once nothing is dirty;
// 1 when MOUNTPOINT is not a bcachefs-lite mount root or was mounted with
// mode=none (no cache open), the mount went away, --timeout passed (the
// write-back goes on in the daemon), or the cache is out of service (state
// passthrough) with dirty data left: that data could not be read from the
// cache device, and no write-back on this mount will take it.
#include <sys/statfs.h>
#include <sys/xattr.h>
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

#include "bcachefs_lite/fs/stats_xattrs.h"
#include "bcachefs_lite/util/size.h"
#include "command.h"
#include "flush_progress.h"

namespace bcl::ctl {

namespace {

using Clock = FlushProgress::Clock;

// statfs(2)'s f_type of every FUSE file system.
constexpr long kFuseSuperMagic = 0x65735546;
// How often dirty_data is read: often enough for a smooth display.
constexpr std::chrono::milliseconds kPollInterval{200};
// How often a plain (not a terminal) progress line is printed.
constexpr std::chrono::seconds kPlainLineInterval{1};

std::string xattr_name(std::string_view short_name) { return std::string(kStatsXattrPrefix) + std::string(short_name); }

// getxattr(path, name): the value, or the errno.
Result<std::string> read_xattr(const std::string& path, std::string_view short_name) {
    const std::string name = xattr_name(short_name);
    char buf[256];
    const ssize_t n = ::getxattr(path.c_str(), name.c_str(), buf, sizeof buf);
    if (n < 0) return sys_error(errno, name);
    return std::string(buf, static_cast<std::size_t>(n));
}

std::optional<std::uint64_t> parse_decimal(std::string_view text) {
    if (text.empty() || text.size() > 19) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

// The cache mode of the bcachefs-lite mount whose root is `mnt`, or a
// one-line error saying why `mnt` is not one.
Result<std::string> mount_root_mode(const std::string& mnt) {
    struct statfs fs {};
    if (::statfs(mnt.c_str(), &fs) != 0) return sys_error(errno, mnt);
    const std::string not_root = fmt::format("{} is not the root of a bcachefs-lite mount", mnt);
    if (fs.f_type != kFuseSuperMagic) return make_error(Errc::invalid, not_root);
    auto mode = read_xattr(mnt, kCacheModeXattr);
    if (!mode) {
        const int err = mode.error().sys_errno;
        if (err == ENODATA || err == ENOTSUP) return make_error(Errc::invalid, not_root);
        return make_error(mode.error().code, fmt::format("{}: {}", mnt, std::strerror(err)));
    }
    return mode.value();
}

// CLI11 check of --timeout: empty when `text` is a number of seconds > 0.
std::string positive_seconds(const std::string& text) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(value) || value <= 0 || value > 1e9) {
        return fmt::format("'{}' is not a number of seconds (more than 0, at most 1000000000)", text);
    }
    return {};
}

class FlushCommand final : public Subcommand {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* cmd = app.add_subcommand(
            "flush", "Write every dirty byte of a mounted cache back to its backing files, and wait");
        cmd->add_option("MOUNTPOINT", mountpoint_, "The root of a bcachefs-lite mount")->required();
        cmd->add_option("--timeout", timeout_, "Give up after this many seconds (the write-back goes on)")
            ->type_name("SECONDS")
            ->check(positive_seconds);
        return cmd;
    }

    int run() override {
        auto mode = mount_root_mode(mountpoint_);
        if (!mode) return fail(mode.error());
        if (mode.value() == "none") {
            return fail(kExitFailure, fmt::format("{} is mounted with mode=none: its cache is not open, so nothing "
                                                  "can be flushed (mount it in another mode to write back dirty "
                                                  "data an earlier mount left)",
                                                  mountpoint_));
        }
        const std::string flush = xattr_name(kFlushXattr);
        if (::setxattr(mountpoint_.c_str(), flush.c_str(), "1", 1, 0) != 0) {
            return fail(kExitFailure, fmt::format("cannot start a flush of {}: {}", mountpoint_, std::strerror(errno)));
        }
        return wait_until_clean();
    }

private:
    int wait_until_clean() {
        const bool terminal = ::isatty(STDOUT_FILENO) == 1;
        const auto start = Clock::now();
        // Without --timeout, never.
        const Clock::time_point deadline =
            timeout_ ? start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*timeout_))
                     : Clock::time_point::max();
        FlushProgress progress;
        auto next_plain_line = start;
        for (;;) {
            auto text = read_xattr(mountpoint_, kDirtyDataXattr);
            if (!text) {
                end_bar(terminal, progress);
                return fail(kExitFailure, fmt::format("lost the mount at {} while flushing: {}", mountpoint_,
                                                      std::strerror(text.error().sys_errno)));
            }
            auto dirty = parse_decimal(text.value());
            if (!dirty) {
                end_bar(terminal, progress);
                return fail(kExitFailure, fmt::format("{} gives dirty_data as '{}', not a number of bytes", mountpoint_,
                                                      text.value()));
            }
            const auto now = Clock::now();
            progress.sample(now, *dirty);
            if (*dirty == 0) {
                end_bar(terminal, progress);
                const double took = std::chrono::duration<double>(now - start).count();
                if (progress.peak() == 0) {
                    fmt::print("{}: nothing dirty\n", mountpoint_);
                } else {
                    fmt::print("{}: nothing dirty; wrote back {} in {:.1f} s\n", mountpoint_,
                               format_size_approx(progress.peak()), took);
                }
                return kExitOk;
            }
            if (auto state = read_xattr(mountpoint_, kCacheStateXattr); state && state.value() == "passthrough") {
                end_bar(terminal, progress);
                return fail(kExitFailure,
                            fmt::format("{} is out of service (state passthrough): {} of dirty data could not be read "
                                        "from the cache device and stays there, reads of it fail with EIO; a later "
                                        "mount with the device working writes it back",
                                        mountpoint_, format_size_approx(*dirty)));
            }
            if (terminal) {
                fmt::print("\r{}\033[K", progress.bar_line());
                std::fflush(stdout);
            } else if (now >= next_plain_line) {
                fmt::print("flushing {}: {}\n", mountpoint_, progress.plain_line());
                std::fflush(stdout);
                next_plain_line = now + kPlainLineInterval;
            }
            if (now >= deadline) {
                end_bar(terminal, progress);
                return fail(kExitFailure, fmt::format("gave up after {} s with {} still dirty on {} (the write-back "
                                                      "goes on)",
                                                      *timeout_, format_size_approx(*dirty), mountpoint_));
            }
            std::this_thread::sleep_for(kPollInterval);
        }
    }

    // Ends the line the bar was redrawn on, so that what follows starts on
    // its own line.
    static void end_bar(bool terminal, const FlushProgress& progress) {
        if (!terminal || progress.peak() == 0) return;
        fmt::print("\r{}\033[K\n", progress.bar_line());
        std::fflush(stdout);
    }

    std::string mountpoint_;
    std::optional<double> timeout_;
};

}  // namespace

std::unique_ptr<Subcommand> make_flush_command() { return std::make_unique<FlushCommand>(); }

}  // namespace bcl::ctl
