// End-to-end: the crash loop of writeback. Each iteration mounts the same
// backing folder, cache file and index in writeback mode, runs the random
// write-heavy workload (crash_workload.h) in a child, SIGKILLs the daemon
// after a random number of the workload's completed steps, mounts again
// and checks every file through the mount against the model
// (crash_model.h): whatever fsync acknowledged is there, nothing unlinked
// or truncated away comes back, and files with changes in flight hold
// nothing but bytes of their possible states. Iterations alternate between
// writeback running hard (the kill lands while dirty data is being written
// back; after the remount writeback resumes at once) and writeback stopped
// (dirty data piles up), and every other stopped iteration starts a flush
// right before the kill, so that writing back is interrupted and done a
// second time. At the end every file is rewritten and fsynced, the mount
// is flushed with bcachefs-lite-ctl flush, unmounted, and the backing
// folder must hold exactly the expected names and contents.
//
// Environment:
//   BCL_CRASH_ITERATIONS  how many crashes (default 40); a long run:
//                         BCL_CRASH_ITERATIONS=500 meson test -C build
//                           fs_writeback_e2e -t 0 --print-errorlogs
//   BCL_CRASH_SEED        the seed of the whole run (default below); every
//                         failure prints it, and setting it replays the run.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <random>

#include "../cache_e2e.h"
#include "crash_check.h"
#include "crash_event.h"
#include "crash_model.h"
#include "crash_workload.h"
#include "writeback_mount.h"

namespace bcl::test {
namespace {

constexpr std::uint64_t kDefaultCrashSeed = 0x5eedb0b;
constexpr std::uint64_t kDefaultCrashIterations = 40;
// Steps of one workload run; the kill comes after 1..kWorkloadSteps of them.
constexpr int kWorkloadSteps = 60;
// The longest the workload may go without reporting anything.
constexpr std::chrono::milliseconds kEventTimeout{30000};
// Events of an iteration kept for a failure message.
constexpr std::size_t kTraceLength = 60;

// The number in the environment variable `name` (decimal, or hex with
// 0x), or `fallback` when it is not set; nullopt when it holds anything
// else.
std::optional<std::uint64_t> env_number(const char* name, std::uint64_t fallback) {
    const char* text = std::getenv(name);
    if (!text || !*text) return fallback;
    char* end = nullptr;
    errno = 0;
    unsigned long long value = std::strtoull(text, &end, 0);
    if (errno != 0 || *end != '\0') return std::nullopt;
    return value;
}

bool is_crash_errno(std::uint64_t err) { return err == ENOTCONN || err == ECONNABORTED || err == EIO; }

// One iteration of the loop, decided from the run's seed.
struct Iteration {
    std::uint64_t index = 0;
    WritebackPace pace = WritebackPace::hard;
    bool kill_during_flush = false;
    int kill_after_steps = 1;
    std::uint64_t workload_seed = 0;
};

class WritebackCrashLoop : public testing::Test {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
        auto seed = env_number("BCL_CRASH_SEED", kDefaultCrashSeed);
        auto iterations = env_number("BCL_CRASH_ITERATIONS", kDefaultCrashIterations);
        ASSERT_TRUE(seed.has_value()) << "BCL_CRASH_SEED is not a number";
        ASSERT_TRUE(iterations.has_value() && *iterations > 0) << "BCL_CRASH_ITERATIONS is not a positive number";
        seed_ = *seed;
        iterations_ = *iterations;
        rng_.seed(seed_);
    }

    // Where a failure happened: enough to find it and to replay it.
    std::string where(const Iteration& it) const {
        return "iteration " + std::to_string(it.index + 1) + " of " + std::to_string(iterations_) + " (" +
               pace_name(it.pace) + (it.kill_during_flush ? ", flushing" : "") + ", kill after step " +
               std::to_string(it.kill_after_steps) + "), BCL_CRASH_SEED=" + std::to_string(seed_);
    }

    Iteration plan(std::uint64_t index) {
        Iteration it;
        it.index = index;
        it.pace = index % 2 == 0 ? WritebackPace::hard : WritebackPace::stopped;
        it.kill_during_flush = index % 4 == 3;
        it.kill_after_steps = 1 + static_cast<int>(rng_() % kWorkloadSteps);
        it.workload_seed = rng_();
        return it;
    }

    // Remembers an event of this iteration for failure messages.
    void trace(const Event& event) {
        std::string line = event_kind_name(event.kind);
        bool names_a_file =
            event.kind != EventKind::step_done && event.kind != EventKind::finished && event.kind != EventKind::failed;
        if (names_a_file && event.a < layout_.names.size()) line += " " + layout_.names[event.a];
        if ((event.kind == EventKind::rename || event.kind == EventKind::rename_synced) &&
            event.b < layout_.names.size()) {
            line += " -> " + layout_.names[event.b];
        }
        if (event.kind == EventKind::write) {
            line += " at " + std::to_string(event.arg) + " +" + std::to_string(event.data.size());
        } else if (event.kind == EventKind::truncate) {
            line += " to " + std::to_string(event.arg);
        } else if (event.kind == EventKind::failed) {
            line += ": " + event.data;
        }
        trace_.push_back(line);
        if (trace_.size() > kTraceLength) trace_.pop_front();
    }

    std::string trace_text() const {
        std::string out = "last events of the workload:\n";
        for (const std::string& line : trace_) out += "  " + line + "\n";
        return out;
    }

    // The daemon's log, at most its last 8 KiB.
    std::string log_tail() const {
        std::string log = mount_->daemon_log();
        if (log.size() > 8192) log = "..." + log.substr(log.size() - 8192);
        return "daemon log:\n" + log;
    }

    void report(const Iteration& it, const std::vector<std::string>& problems) {
        std::string text;
        for (const std::string& problem : problems) text += "  " + problem + "\n";
        ADD_FAILURE() << where(it) << ":\n" << text << trace_text() << log_tail();
    }

    // Kills the daemon; with kill_during_flush, right after starting a flush.
    void kill_now(const Iteration& it, std::vector<std::string>& problems) {
        if (dirty_data(mount_->mnt()).value_or(0) > 0) ++tally_.kills_with_dirty_data;
        if (it.kill_during_flush) {
            if (std::string err = start_flush(mount_->mnt()); !err.empty())
                problems.push_back("starting a flush: " + err);
        }
        ::kill(mount_->daemon_pid(), SIGKILL);
    }

    // Runs the workload until the kill, feeding its events to the model,
    // then reaps the workload and the daemon and removes the dead mount.
    std::vector<std::string> run_until_kill(const Iteration& it);

    // Mounts for `pace`, and checks every name against the model.
    std::vector<std::string> remount_and_check(WritebackPace pace);

    // Rewrites every file and removes the scratch ones, all fsynced, so
    // that nothing is in flight any more.
    std::vector<std::string> settle_every_name();

    std::uint64_t seed_ = 0;
    std::uint64_t iterations_ = 0;
    std::mt19937_64 rng_;
    CrashLayout layout_ = crash_layout();
    CrashModel model_{layout_.names.size()};
    std::unique_ptr<TestMount> mount_;
    std::deque<std::string> trace_;

    // What the run did, printed at its end: evidence that the crashes hit
    // something.
    struct Tally {
        std::uint64_t steps = 0;
        std::uint64_t acknowledged = 0;       // synced and rename_synced events
        std::uint64_t in_flight_at_kill = 0;  // names with changes in flight, summed over the kills
        std::uint64_t kills_with_dirty_data = 0;
    } tally_;
};

std::vector<std::string> WritebackCrashLoop::run_until_kill(const Iteration& it) {
    std::vector<std::string> problems;
    trace_.clear();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return {std::string("pipe2: ") + std::strerror(errno)};
    pid_t child = ::fork();
    if (child < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return {std::string("fork: ") + std::strerror(errno)};
    }
    if (child == 0) {
        ::close(fds[0]);
        CrashWorkloadSpec spec{mount_->mnt(), layout_, it.workload_seed, kWorkloadSteps, fds[1]};
        ::_exit(run_crash_workload(spec, model_));
    }
    ::close(fds[1]);

    EventReader reader(fds[0]);
    bool killed = false;
    int steps = 0;
    for (;;) {
        Event event;
        EventReader::Status status = reader.next(event, kEventTimeout);
        if (status == EventReader::Status::timeout) {
            problems.push_back("the workload reported nothing for " + std::to_string(kEventTimeout.count()) +
                               " ms (killed: " + (killed ? "yes" : "no") + ")");
            break;
        }
        if (status == EventReader::Status::corrupt) {
            problems.push_back("the workload's report stream is corrupt");
            break;
        }
        if (status == EventReader::Status::eof) break;
        trace(event);
        if (event.kind == EventKind::failed) {
            if (!killed) {
                problems.push_back("an operation failed while the daemon was running: " + event.data);
            } else if (!is_crash_errno(event.arg)) {
                problems.push_back("after the kill an operation failed with an unexpected error: " + event.data);
            }
            continue;
        }
        if (std::string why = model_.apply(event); !why.empty()) {
            problems.push_back("the model cannot follow the workload: " + why);
            break;
        }
        if (event.kind == EventKind::step_done) ++tally_.steps;
        if (event.kind == EventKind::synced || event.kind == EventKind::rename_synced) ++tally_.acknowledged;
        if (!killed && (event.kind == EventKind::finished ||
                        (event.kind == EventKind::step_done && ++steps == it.kill_after_steps))) {
            kill_now(it, problems);
            killed = true;
        }
    }
    if (!killed) kill_now(it, problems);

    for (std::size_t n = 0; n < model_.size(); ++n) tally_.in_flight_at_kill += model_[n].pending;

    int child_status = wait_or_kill(child, kExitTimeout);
    ::close(fds[0]);
    if (!WIFEXITED(child_status) || WEXITSTATUS(child_status) > 1) {
        problems.push_back("the workload ended with wait status " + std::to_string(child_status));
    }
    std::optional<int> daemon_status = mount_->kill_daemon(SIGKILL);
    if (!daemon_status || !WIFSIGNALED(*daemon_status) || WTERMSIG(*daemon_status) != SIGKILL) {
        problems.push_back("the daemon did not die of the SIGKILL: wait status " +
                           (daemon_status ? std::to_string(*daemon_status) : std::string("none")));
    }
    if (is_mounted(mount_->mnt())) problems.push_back("the dead mount was not removed");
    return problems;
}

std::vector<std::string> WritebackCrashLoop::remount_and_check(WritebackPace pace) {
    mount_->set_spec(writeback_spec(pace));
    if (!mount_->start()) return {"mounting again: " + mount_->error()};
    return check_after_crash(mount_->mnt(), layout_, model_);
}

std::vector<std::string> WritebackCrashLoop::settle_every_name() {
    std::vector<std::string> problems;
    auto fail = [&](std::size_t name, const std::string& what) {
        problems.push_back(layout_.names[name] + ": " + what + ": " + std::strerror(errno));
    };
    auto apply = [&](const Event& event) {
        if (std::string why = model_.apply(event); !why.empty()) problems.push_back("model: " + why);
    };
    for (std::size_t n = 0; n < layout_.names.size(); ++n) {
        const std::string path = mount_->m(layout_.names[n]);
        const std::string dir = mount_->m(layout_.dirs[layout_.dir_of[n]]);
        // Scratch names go, and so does one regular name in four.
        if (layout_.scratch[n] || rng_() % 4 == 0) {
            if (model_[n].current) {
                apply(name_event(EventKind::unlink, n));
                if (::unlink(path.c_str()) != 0) fail(n, "unlink");
            }
        } else {
            std::string data(rng_() % (kMaxCrashFileSize + 1), '\0');
            for (char& c : data) c = static_cast<char>(rng_());
            apply(name_event(EventKind::create, n));
            apply(write_event(n, 0, data));
            int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0) {
                fail(n, "open");
                continue;
            }
            if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) fail(n, "write");
            if (::fsync(fd) != 0) fail(n, "fsync");
            if (::close(fd) != 0) fail(n, "close");
        }
        int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || ::fsync(dfd) != 0) fail(n, "fsync of its folder");
        if (dfd >= 0) ::close(dfd);
        apply(name_event(EventKind::synced, n));
    }
    return problems;
}

TEST_F(WritebackCrashLoop, EveryFsyncSurvivesAndTheBackingFolderEndsExact) {
    Iteration first = plan(0);
    mount_ = std::make_unique<TestMount>(writeback_spec(first.pace), TestMount::Deferred{});
    ASSERT_TRUE(mount_->start()) << mount_->error();
    ASSERT_EQ(get_xattr(mount_->mnt(), std::string(kStatPrefix) + "cache_mode").value_or("?"), "writeback")
        << log_tail();
    for (const std::string& dir : layout_.dirs) ASSERT_EQ(::mkdir(mount_->m(dir).c_str(), 0755), 0) << dir;
    int root = ::open(mount_->mnt().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root, 0);
    ASSERT_EQ(::fsync(root), 0);
    ::close(root);

    Iteration it = first;
    for (std::uint64_t i = 0; i < iterations_; ++i) {
        std::vector<std::string> problems = run_until_kill(it);
        Iteration next = plan(i + 1);
        if (problems.empty()) problems = remount_and_check(next.pace);
        if (!problems.empty()) {
            report(it, problems);
            return;
        }
        it = next;
    }

    // `it` is the iteration that would come next: the final pass runs at
    // its pace.
    std::vector<std::string> problems = settle_every_name();
    if (problems.empty()) {
        if (std::string err = ctl_flush(mount_->mnt()); !err.empty()) problems.push_back(err);
    }
    if (problems.empty()) {
        std::optional<std::uint64_t> dirty = dirty_data(mount_->mnt());
        if (dirty != std::uint64_t{0}) {
            problems.push_back("dirty_data after the flush: " +
                               (dirty ? std::to_string(*dirty) : std::string("unreadable")));
        }
        // The final pass rewrote files through this mount: writeback
        // mode wrote them to the cache, and something wrote them back.
        if (stat_xattr(mount_->mnt(), "bytes_written_back").value_or(0) == 0) {
            problems.push_back("bytes_written_back is 0 after rewriting every file and a flush");
        }
    }
    std::optional<int> status = mount_->stop();
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
        problems.push_back("the daemon did not exit cleanly after the unmount: wait status " +
                           (status ? std::to_string(*status) : std::string("none")));
    }
    if (problems.empty()) {
        for (const std::string& problem : compare_exactly(mount_->backing(), layout_, model_)) {
            problems.push_back("in the backing folder after the flush: " + problem);
        }
    }
    std::cout << iterations_ << " crashes, BCL_CRASH_SEED=" << seed_ << ": " << tally_.steps << " steps, "
              << tally_.acknowledged << " fsyncs acknowledged, " << tally_.in_flight_at_kill
              << " names with changes in flight at the kills, " << tally_.kills_with_dirty_data
              << " kills with dirty data in the cache\n";
    if (tally_.kills_with_dirty_data == 0) {
        problems.push_back("no kill came while the cache held dirty data: the loop tested no writeback");
    }
    if (!problems.empty()) {
        std::string text;
        for (const std::string& problem : problems) text += "  " + problem + "\n";
        ADD_FAILURE() << "after " << iterations_ << " iterations, BCL_CRASH_SEED=" << seed_ << ":\n"
                      << text << log_tail();
    }
}

}  // namespace
}  // namespace bcl::test
