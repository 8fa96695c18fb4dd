// End-to-end: the cache across the daemon's life. A clean unmount and a new
// mount with the same cache file and index keep the cache warm; a crash
// (SIGKILL of the daemon, with files cached, or in the middle of a read
// workload) loses nothing that was fsync'ed, the dead mount can be removed,
// and the next mount with the same cache and index serves only correct data.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

class RestartTest : public CacheMountTest {
protected:
    void put_files(std::uint64_t seed, int count, std::size_t max_size) {
        std::mt19937_64 rng(seed);
        for (int i = 0; i < count; ++i) put_backing("f" + std::to_string(i), random_bytes(rng, 1 + rng() % max_size));
        put_backing("tiny", "t");
    }

    // The daemon is gone and nothing is left mounted.
    void expect_cleanly_stopped(const std::optional<int>& status) {
        ASSERT_TRUE(status.has_value()) << "the daemon did not exit after the unmount";
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status << "; log:\n"
                                                                     << t().daemon_log();
        EXPECT_FALSE(is_mounted(t().mnt()));
    }

    // Reads everything twice: all equal the backing files, the second pass hits.
    void expect_correct_and_caching() {
        expect_all_read_back();
        std::uint64_t hits = stats()["cache_hits"];
        expect_all_read_back(/*direct=*/true);
        EXPECT_GT(stats()["cache_hits"], hits) << "the cache serves nothing after the restart";
    }
};

TEST_F(RestartTest, CleanRemountKeepsTheCacheWarm) {
    put_files(31, 6, 1 << 20);
    expect_all_read_back();
    for (const auto& [rel, data] : expected_) ASSERT_GT(cached_bytes(m(rel)).value_or(0), 0u) << rel;

    expect_cleanly_stopped(t().stop());
    ASSERT_TRUE(t().start()) << t().error();

    Stats s0 = stats();
    ASSERT_TRUE(s0.ok()) << s0.error();
    for (const auto& [rel, data] : expected_)
        EXPECT_GT(cached_bytes(m(rel)).value_or(0), 0u) << rel << " after remount";
    EXPECT_EQ(read_whole(m("f0")), expected_["f0"]);
    Stats s1 = stats();
    EXPECT_GT(s1["cache_hits"], s0["cache_hits"]) << "the first read after the remount was not a hit\n"
                                                  << s1.text() << "daemon log:\n"
                                                  << t().daemon_log();
    EXPECT_EQ(s1["cache_misses"], s0["cache_misses"]) << s1.text();
    EXPECT_EQ(s1["bytes_read_backing"], s0["bytes_read_backing"]);
    expect_correct_and_caching();
}

TEST_F(RestartTest, ChangesWhileUnmountedAreSeenAfterRemount) {
    put_files(32, 4, 300000);
    expect_all_read_back();
    expect_all_read_back();
    expect_cleanly_stopped(t().stop());

    struct stat st {};
    ASSERT_EQ(::stat(b("f0").c_str(), &st), 0);
    ASSERT_TRUE(wait_for_clock_past(st.st_ctim));  // see backing_change_test.cc
    std::mt19937_64 rng(320);
    pwrite_backing("f0", 10, random_bytes(rng, 100));
    ASSERT_EQ(::truncate(b("f1").c_str(), 7), 0);
    expected_["f1"].resize(7);
    put_backing("f2", random_bytes(rng, expected_["f2"].size()));
    ASSERT_EQ(::unlink(b("f3").c_str()), 0);
    put_backing("f3", random_bytes(rng, 4096));

    ASSERT_TRUE(t().start()) << t().error();
    expect_all_read_back();
    expect_all_read_back(/*direct=*/true);
}

TEST_F(RestartTest, CrashWithCachedFilesLosesNothing) {
    put_files(33, 8, 1 << 20);
    expect_all_read_back();
    expect_all_read_back();

    // Written through the mount and fsync'ed before the crash.
    std::mt19937_64 rng(330);
    std::string written = random_bytes(rng, 777777);
    {
        int fd = ::open(m("written").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, written.data(), written.size()), static_cast<ssize_t>(written.size()));
        ASSERT_EQ(::fsync(fd), 0);
        ::close(fd);
    }
    std::string patch = random_bytes(rng, 5000);
    {
        int fd = ::open(m("f0").c_str(), O_WRONLY);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pwrite(fd, patch.data(), patch.size(), 1), static_cast<ssize_t>(patch.size()));
        ASSERT_EQ(::fdatasync(fd), 0);
        // Left open: the crash comes with the file still open.
        std::optional<int> status = t().kill_daemon(SIGKILL);
        ASSERT_TRUE(status.has_value());
        EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) << "wait status " << *status;
        ::close(fd);
    }
    std::string& f0 = expected_["f0"];
    if (f0.size() < 1 + patch.size()) f0.resize(1 + patch.size(), '\0');
    f0.replace(1, patch.size(), patch);
    expected_["written"] = written;

    EXPECT_FALSE(is_mounted(t().mnt())) << "the dead mount was not removed";
    EXPECT_TRUE(read_file(b("written")) == written) << "fsync'ed data is missing from the backing file";
    EXPECT_TRUE(read_file(b("f0")) == f0) << "fdatasync'ed data is missing from the backing file";

    ASSERT_TRUE(t().start()) << t().error();
    expect_correct_and_caching();
}

// Child of CrashInTheMiddleOfAReadWorkload: reads random ranges of `files`
// through the mount until a read fails (the daemon is gone), writing one
// byte to `progress` per correct read. Exits 0 when every read that
// succeeded was correct, 1 on the first wrong byte.
[[noreturn]] void read_until_failure(const std::string& mnt, const std::map<std::string, std::string>& files,
                                     int progress) {
    std::mt19937_64 rng(::getpid());
    std::vector<std::pair<std::string, const std::string*>> list;
    for (const auto& [rel, data] : files) list.emplace_back(mnt + "/" + rel, &data);
    for (;;) {
        const auto& [path, data] = list[rng() % list.size()];
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (rng() % 2 ? O_DIRECT : 0));
        if (fd < 0) ::_exit(0);
        for (int i = 0; i < 8; ++i) {
            std::uint64_t offset = rng() % (data->size() + 1);
            std::size_t len = 1 + rng() % (256 << 10);
            auto got = pread_aligned(fd, offset, len);
            if (!got) ::_exit(0);
            if (*got != data->substr(offset, len)) ::_exit(1);
            if (::write(progress, ".", 1) != 1) ::_exit(0);
        }
        ::close(fd);
    }
}

TEST_F(RestartTest, CrashInTheMiddleOfAReadWorkload) {
    put_files(34, 16, 1 << 20);
    expect_all_read_back();  // half of the workload hits, half misses again after the crash

    int pipefd[2];
    ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
    pid_t reader = ::fork();
    ASSERT_GE(reader, 0);
    if (reader == 0) {
        ::close(pipefd[0]);
        read_until_failure(t().mnt(), expected_, pipefd[1]);
    }
    ::close(pipefd[1]);
    // Wait until the reader has done 200 correct reads, then crash the daemon
    // under it.
    int done = 0;
    while (done < 200) {
        pollfd pfd{pipefd[0], POLLIN, 0};
        int n = ::poll(&pfd, 1, static_cast<int>(kExitTimeout.count()));
        if (n <= 0) break;
        char buf[64];
        ssize_t got = ::read(pipefd[0], buf, sizeof buf);
        if (got <= 0) break;  // the reader exited
        done += static_cast<int>(got);
    }
    std::optional<int> status = t().kill_daemon(SIGKILL);
    int reader_status = wait_or_kill(reader, kExitTimeout);
    ::close(pipefd[0]);
    ASSERT_GE(done, 200) << "the reader stopped early; wait status " << reader_status;
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);
    EXPECT_TRUE(WIFEXITED(reader_status) && WEXITSTATUS(reader_status) == 0)
        << "the reader got wrong data before the crash (wait status " << reader_status << ")";
    EXPECT_FALSE(is_mounted(t().mnt()));

    ASSERT_TRUE(t().start()) << t().error();
    expect_correct_and_caching();
    // A second crash right after the restart, and one more mount.
    std::optional<int> again = t().kill_daemon(SIGKILL);
    ASSERT_TRUE(again.has_value());
    ASSERT_TRUE(t().start()) << t().error();
    expect_correct_and_caching();
}

}  // namespace
}  // namespace bcl::test
