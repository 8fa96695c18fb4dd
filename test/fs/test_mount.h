// Test helpers for end-to-end tests of the bcachefs-lite daemon: child
// processes with bounded waits, waiting for a mount through
// /proc/self/mountinfo, and TestMount, which mounts a fresh temporary backing
// directory with the built daemon and cleans everything up again.
//
// Thread safety: for use from one test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bcl::test {

inline constexpr std::chrono::milliseconds kMountTimeout{20000};
inline constexpr std::chrono::milliseconds kExitTimeout{20000};
inline constexpr uid_t kNobody = 65534;
inline constexpr gid_t kNogroup = 65534;

// Why end-to-end tests cannot run here, or empty when they can.
std::string e2e_skip_reason();

// The daemon built by meson (BCACHEFS_LITE_DAEMON in the environment).
std::string daemon_path();

// The installed daemon that mount(8) can find (its helpers search a fixed
// PATH), or empty.
std::string installed_daemon();

// Waits for child `pid` to exit, at most `timeout`; its wait status, or
// nullopt when it is still running.
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds timeout);

// Waits for `pid` to exit; kills it with SIGKILL when it did not in time.
int wait_or_kill(pid_t pid, std::chrono::milliseconds timeout);

struct RunResult {
    int status = -1;       // wait status
    std::string err;       // everything the program wrote to stdout and stderr
    bool timed_out = false;

    bool exited_with(int code) const;
    int exit_code() const;  // -1 when it did not exit normally
};

// Runs argv[0] (searched in PATH) with argv, stdin from /dev/null, and waits
// at most `timeout` (then kills it).
RunResult run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = kExitTimeout);

// True when a mount of type fs_type sits exactly on the absolute path mnt.
bool is_mounted(const std::string& mnt, const std::string& fs_type = "fuse.bcachefs-lite");

// Waits until mnt is mounted as fs_type: poll() on /proc/self/mountinfo,
// which signals every change of the mount table. Gives up at `timeout`, or
// early when `pid` (when > 0) exits.
bool wait_for_mount(const std::string& mnt, std::chrono::milliseconds timeout, pid_t pid = -1,
                    const std::string& fs_type = "fuse.bcachefs-lite");

// Unmounts mnt: fusermount3 -u, falling back to a lazy umount2.
void unmount(const std::string& mnt);

// Forks a child that drops to uid/gid (no supplementary groups) and returns
// the value `body` returns (as its exit status, 0..255).
int run_as(uid_t uid, gid_t gid, const std::function<int()>& body);

// Forks a child (same credentials) and returns the value `body` returns.
int run_in_child(const std::function<int()>& body);

// A temporary directory, removed with everything in it on destruction
// (after making sure nothing is mounted below it).
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// base/            (0755)
//   b/src/         the backing directory (SOURCE), 0755
//   mnt/           the mount point
//   cache.img      the cache file (created by the daemon through cache_size)
//   daemon.log     the daemon's stderr
class TestMount {
public:
    // Starts the daemon in the foreground with
    // -o cache=base/cache.img,cache_size=64M,<options>.
    explicit TestMount(const std::string& options = "allow_other,default_permissions");
    ~TestMount();
    TestMount(const TestMount&) = delete;
    TestMount& operator=(const TestMount&) = delete;

    // Empty when mounted, else what went wrong (with the daemon's stderr).
    const std::string& error() const { return error_; }
    bool mounted() const { return error_.empty(); }

    const std::string& base() const { return base_.path(); }
    const std::string& backing() const { return backing_; }
    const std::string& mnt() const { return mnt_; }
    std::string b(const std::string& rel) const { return backing_ + "/" + rel; }
    std::string m(const std::string& rel) const { return mnt_ + "/" + rel; }
    pid_t daemon_pid() const { return pid_; }
    std::string daemon_log() const;

    // Unmounts and waits for the daemon to exit; its wait status.
    std::optional<int> stop();

private:
    TempDir base_;
    std::string backing_;
    std::string mnt_;
    pid_t pid_ = -1;
    std::string error_;
};

// Reads a whole file; nullopt when it cannot be opened.
std::optional<std::string> read_file(const std::string& path);
// Writes (creates or truncates) a whole file; false on error.
bool write_file(const std::string& path, const std::string& data, mode_t mode = 0644);

}  // namespace bcl::test
