// Test helpers for end-to-end tests of the bcachefs-lite daemon: child
// processes with bounded waits, waiting for a mount through
// /proc/self/mountinfo, and TestMount, which mounts a fresh temporary backing
// directory with the built daemon and cleans everything up again.
//
// Thread safety: for use from one test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
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
    int status = -1;  // wait status
    std::string err;  // everything the program wrote to stdout and stderr
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

// How TestMount runs the daemon. The defaults are what
// TestMount(options) uses.
struct MountSpec {
    // Options after cache=...: kernel flags, timeouts, mode=, ...
    std::string options = "allow_other,default_permissions";
    // The cache_size= value; empty leaves cache_size= out (the cache file
    // must then exist). Default: 64M.
    std::string cache_size = "64M";
    // Options put before `options` (which may override them). Default:
    // sequential bypass and congestion off, so that the tests of other
    // things cache whatever they read however long the run and however
    // slow the machine's disk is; the bypass tests set their own values.
    std::string bypass = "sequential_cutoff=0,congested_read_threshold_us=0,congested_write_threshold_us=0";
    // Adds index=base/index, so that the index lives and dies with the test
    // and survives a restart of the daemon; false leaves index= out, and the
    // daemon puts the index in its default location outside the test's
    // directory (only for a test of that default, which must remove it).
    // Default: true.
    bool index_in_base = true;
    // A program (searched in PATH) and its arguments that run the daemon,
    // whose own command line follows them: e.g. setpriv, to start it
    // without a capability. Default: none (the daemon runs directly).
    std::vector<std::string> launcher;
};

// base/            (0755)
//   b/src/         the backing directory (SOURCE), 0755
//   mnt/           the mount point
//   cache.img      the cache file (created by the daemon through cache_size)
//   index/         the index (MountSpec::index_in_base)
//   daemon.log     the daemon's stderr (appended to by every start)
class TestMount {
public:
    // Starts the daemon in the foreground with
    // -o cache=base/cache.img,cache_size=64M,index=base/index,<options>.
    explicit TestMount(const std::string& options = "allow_other,default_permissions");
    // Starts the daemon as `spec` says.
    explicit TestMount(const MountSpec& spec);
    // Only prepares base/ and its folders; start() mounts.
    struct Deferred {};
    TestMount(const MountSpec& spec, Deferred);
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

    std::string cache_path() const { return base() + "/cache.img"; }
    std::string index_path() const { return base() + "/index"; }
    // The -o argument the daemon runs with.
    std::string option_string() const;

    // Unmounts and waits for the daemon to exit; its wait status.
    std::optional<int> stop();

    // Starts the daemon again (after stop() or kill_daemon(), or for the
    // first time after the Deferred constructor) with the same backing
    // directory, mount point, cache file and options; true once mounted,
    // else error() says why.
    bool start();

    // How the next start() runs the daemon (same directories and cache).
    const MountSpec& spec() const { return spec_; }
    void set_spec(const MountSpec& spec) { spec_ = spec; }

    // Kills the daemon with `sig` (SIGKILL: a crash) and reaps it, then
    // removes the dead mount (fusermount3 -u, falling back to a lazy
    // unmount). Its wait status, or nullopt when no daemon was running.
    std::optional<int> kill_daemon(int sig = SIGKILL);

private:
    void prepare();

    MountSpec spec_;
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
