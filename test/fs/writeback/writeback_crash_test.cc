// End-to-end: deterministic crashes of writeback, each aimed at one moment
// the crash loop only hits by chance. Dirty data fsync'ed right before a
// SIGKILL is read back after the next mount and reaches the backing file
// at the flush; a rename over a dirty file moves its dirty data with it;
// an unlinked or truncated dirty file never gets its old bytes back into
// the backing folder; a clean unmount keeps dirty data and the next mount
// writes it back; a flush killed half way is simply done again.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "../cache_e2e.h"
#include "writeback_mount.h"

namespace bcl::test {
namespace {

namespace stdfs = std::filesystem;

class WritebackCrashTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override { return writeback_spec(WritebackPace::stopped); }

    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
        CacheMountTest::SetUp();
    }

    // Creates or replaces `rel` through the mount with `data`, fsync'ed,
    // and remembers it in expected_.
    void write_synced(const std::string& rel, const std::string& data) {
        int fd = ::open(m(rel).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_GE(fd, 0) << rel << ": " << std::strerror(errno);
        ASSERT_NO_FATAL_FAILURE(pwrite_all(fd, rel, 0, data));
        ASSERT_EQ(::fsync(fd), 0) << rel << ": " << std::strerror(errno);
        ASSERT_EQ(::close(fd), 0) << rel;
        expected_[rel] = data;
    }

    // pwrite of all of `data` at `offset` (in 1 MiB pieces, as an
    // application writes a large file).
    static void pwrite_all(int fd, const std::string& rel, std::uint64_t offset, const std::string& data) {
        for (std::size_t done = 0; done < data.size();) {
            std::size_t piece = std::min<std::size_t>(data.size() - done, 1 << 20);
            ssize_t n = ::pwrite(fd, data.data() + done, piece, static_cast<off_t>(offset + done));
            ASSERT_GT(n, 0) << rel << " at " << offset + done << ": " << std::strerror(errno);
            done += static_cast<std::size_t>(n);
        }
    }

    void fsync_root() {
        int fd = ::open(t().mnt().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_GE(fd, 0) << std::strerror(errno);
        ASSERT_EQ(::fsync(fd), 0) << "fsync of the mount root: " << std::strerror(errno);
        ::close(fd);
    }

    std::uint64_t dirty() {
        std::optional<std::uint64_t> value = dirty_data(t().mnt());
        EXPECT_TRUE(value.has_value()) << "user.bcachefs_lite.dirty_data cannot be read";
        return value.value_or(0);
    }

    // SIGKILL of the daemon, and a new mount at `pace`.
    void crash_and_remount(WritebackPace pace = WritebackPace::stopped) {
        std::optional<int> status = t().kill_daemon(SIGKILL);
        ASSERT_TRUE(status.has_value());
        ASSERT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) << "wait status " << *status;
        ASSERT_FALSE(is_mounted(t().mnt())) << "the dead mount was not removed";
        t().set_spec(writeback_spec(pace));
        ASSERT_TRUE(t().start()) << t().error();
    }

    // A clean unmount, and a new mount at `pace`.
    void unmount_and_remount(WritebackPace pace = WritebackPace::stopped) {
        std::optional<int> status = t().stop();
        ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
            << "the daemon did not exit cleanly; log:\n"
            << t().daemon_log();
        t().set_spec(writeback_spec(pace));
        ASSERT_TRUE(t().start()) << t().error();
    }

    // bcachefs-lite-ctl flush returns 0, and nothing is dirty after it.
    void flush() {
        std::string err = ctl_flush(t().mnt());
        ASSERT_TRUE(err.empty()) << err << "\ndaemon log:\n" << t().daemon_log();
        EXPECT_EQ(dirty(), 0u) << "dirty data is left after the flush";
    }

    // Every file of expected_ reads back through the mount, and the
    // backing folder holds exactly expected_: the same names (nothing
    // unlinked came back) and the same bytes.
    void expect_backing_exactly() {
        std::vector<std::string> found;
        std::error_code ec;
        for (auto it = stdfs::recursive_directory_iterator(t().backing(), ec);
             !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
            if (!it->is_directory()) found.push_back(stdfs::relative(it->path(), t().backing()).string());
        }
        ASSERT_FALSE(ec) << ec.message();
        std::vector<std::string> want;
        for (const auto& [rel, data] : expected_) want.push_back(rel);
        std::sort(found.begin(), found.end());
        EXPECT_EQ(found, want) << "the backing folder holds other names than expected";
        for (const auto& [rel, data] : expected_) {
            std::optional<std::string> got = read_file(b(rel));
            ASSERT_TRUE(got.has_value()) << rel << " is missing from the backing folder";
            EXPECT_EQ(got->size(), data.size()) << rel << " in the backing folder";
            EXPECT_TRUE(*got == data) << rel << " in the backing folder differs from what was written";
        }
    }

    std::mt19937_64 rng_{0xc0ffee};
};

TEST_F(WritebackCrashTest, KillRightAfterFsyncOfALargeWrite) {
    ASSERT_NO_FATAL_FAILURE(write_synced("large", random_bytes(rng_, (6 << 20) + 4321)));
    EXPECT_GT(dirty(), 0u) << "a write in writeback mode left nothing dirty";
    ASSERT_NO_FATAL_FAILURE(crash_and_remount());
    expect_mount_reads("large", expected_["large"]);
    ASSERT_NO_FATAL_FAILURE(flush());
    ASSERT_TRUE(t().stop().has_value());
    expect_backing_exactly();
}

TEST_F(WritebackCrashTest, KillAfterFdatasyncOfAnOverwriteOfAWrittenBackFile) {
    // The backing file holds the old bytes: after the crash only the cache
    // has the new ones, and they must win.
    ASSERT_NO_FATAL_FAILURE(write_synced("f", random_bytes(rng_, 4 << 20)));
    ASSERT_NO_FATAL_FAILURE(flush());
    std::string patch = random_bytes(rng_, (3 << 20) + 999);
    const std::uint64_t offset = (2 << 20) + 123;  // unaligned, and past the old end
    {
        int fd = ::open(m("f").c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0) << std::strerror(errno);
        ASSERT_NO_FATAL_FAILURE(pwrite_all(fd, "f", offset, patch));
        ASSERT_EQ(::fdatasync(fd), 0) << std::strerror(errno);
        ASSERT_EQ(::close(fd), 0);
    }
    std::string& f = expected_["f"];
    f.resize(std::max<std::size_t>(f.size(), offset + patch.size()), '\0');
    f.replace(offset, patch.size(), patch);

    ASSERT_NO_FATAL_FAILURE(crash_and_remount());
    expect_mount_reads("f", f);
    ASSERT_NO_FATAL_FAILURE(flush());
    ASSERT_TRUE(t().stop().has_value());
    expect_backing_exactly();
}

TEST_F(WritebackCrashTest, KillAfterARenameOverOfADirtyFile) {
    // "old" is written back (clean), "new" only dirty; "new" replaces "old".
    ASSERT_NO_FATAL_FAILURE(write_synced("old", random_bytes(rng_, 1 << 20)));
    ASSERT_NO_FATAL_FAILURE(flush());
    ASSERT_NO_FATAL_FAILURE(write_synced("new", random_bytes(rng_, (1 << 20) + 77)));
    ASSERT_EQ(::rename(m("new").c_str(), m("old").c_str()), 0) << std::strerror(errno);
    ASSERT_NO_FATAL_FAILURE(fsync_root());
    expected_["old"] = expected_["new"];
    expected_.erase("new");

    ASSERT_NO_FATAL_FAILURE(crash_and_remount());
    expect_mount_reads("old", expected_["old"]);
    struct stat st {};
    EXPECT_NE(::lstat(m("new").c_str(), &st), 0) << "the renamed name \"new\" exists again";
    ASSERT_NO_FATAL_FAILURE(flush());
    ASSERT_TRUE(t().stop().has_value());
    expect_backing_exactly();
}

TEST_F(WritebackCrashTest, AnUnlinkedDirtyFileNeverReachesTheBackingFolder) {
    ASSERT_NO_FATAL_FAILURE(write_synced("keep", random_bytes(rng_, 300000)));
    // Unlinked, then flushed.
    ASSERT_NO_FATAL_FAILURE(write_synced("gone", random_bytes(rng_, 2 << 20)));
    ASSERT_EQ(::unlink(m("gone").c_str()), 0);
    expected_.erase("gone");
    ASSERT_NO_FATAL_FAILURE(flush());
    EXPECT_FALSE(read_file(b("gone")).has_value()) << "the flush wrote the unlinked \"gone\" back";

    // Unlinked, then the daemon killed before any writeback.
    ASSERT_NO_FATAL_FAILURE(write_synced("crashed", random_bytes(rng_, 1 << 20)));
    ASSERT_EQ(::unlink(m("crashed").c_str()), 0);
    expected_.erase("crashed");
    // Unlinked and made again, smaller: none of the old dirty bytes may
    // land in the new file.
    ASSERT_NO_FATAL_FAILURE(write_synced("reused", random_bytes(rng_, 1 << 20)));
    ASSERT_EQ(::unlink(m("reused").c_str()), 0);
    ASSERT_NO_FATAL_FAILURE(write_synced("reused", random_bytes(rng_, 1000)));
    ASSERT_NO_FATAL_FAILURE(fsync_root());

    ASSERT_NO_FATAL_FAILURE(crash_and_remount());
    expect_all_read_back();
    ASSERT_NO_FATAL_FAILURE(flush());
    // Once more after a clean restart: nothing comes back from the index.
    ASSERT_NO_FATAL_FAILURE(unmount_and_remount());
    ASSERT_NO_FATAL_FAILURE(flush());
    ASSERT_TRUE(t().stop().has_value());
    expect_backing_exactly();
}

TEST_F(WritebackCrashTest, TruncateDownOfADirtyFileThenFlush) {
    std::string data = random_bytes(rng_, (1 << 20) + 77);
    ASSERT_NO_FATAL_FAILURE(write_synced("f", data));
    ASSERT_EQ(::truncate(m("f").c_str(), 100003), 0) << std::strerror(errno);
    expected_["f"].resize(100003);
    ASSERT_NO_FATAL_FAILURE(flush());
    EXPECT_TRUE(read_file(b("f")) == expected_["f"]) << "f in the backing folder after the truncate and the flush";

    // Extended again: zeros, not the bytes truncated away, also in the
    // backing file after the next flush.
    ASSERT_EQ(::truncate(m("f").c_str(), 600000), 0) << std::strerror(errno);
    expected_["f"].resize(600000, '\0');
    expect_mount_reads("f", expected_["f"]);
    ASSERT_NO_FATAL_FAILURE(flush());

    // The same with a crash between the fsync'ed truncate and the flush.
    ASSERT_NO_FATAL_FAILURE(write_synced("g", random_bytes(rng_, 1 << 20)));
    {
        int fd = ::open(m("g").c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::ftruncate(fd, 3 * 4096 + 5), 0) << std::strerror(errno);
        ASSERT_EQ(::fsync(fd), 0) << std::strerror(errno);
        ASSERT_EQ(::close(fd), 0);
    }
    expected_["g"].resize(3 * 4096 + 5);
    ASSERT_NO_FATAL_FAILURE(crash_and_remount());
    expect_mount_reads("g", expected_["g"]);
    ASSERT_EQ(::truncate(m("g").c_str(), 1 << 20), 0) << std::strerror(errno);
    expected_["g"].resize(1 << 20, '\0');
    expect_mount_reads("g", expected_["g"]);
    ASSERT_NO_FATAL_FAILURE(flush());
    ASSERT_TRUE(t().stop().has_value());
    expect_backing_exactly();
}

TEST_F(WritebackCrashTest, CleanUnmountKeepsDirtyDataAndTheNextMountWritesItBack) {
    for (int i = 0; i < 4; ++i) {
        ASSERT_NO_FATAL_FAILURE(write_synced("f" + std::to_string(i), random_bytes(rng_, 1 + rng_() % (1 << 20))));
    }
    std::uint64_t before = dirty();
    ASSERT_GT(before, 0u) << "nothing is dirty with writeback stopped";
    for (const auto& [rel, data] : expected_) {
        struct stat st {};
        ASSERT_EQ(::stat(b(rel).c_str(), &st), 0) << rel << " is missing from the backing folder";
        EXPECT_EQ(st.st_size, static_cast<off_t>(data.size())) << rel << ": the backing file has not its new size";
    }

    ASSERT_NO_FATAL_FAILURE(unmount_and_remount(WritebackPace::stopped));
    EXPECT_EQ(dirty(), before) << "the clean unmount did not keep the dirty data as it was";
    expect_all_read_back();

    // Mounted with writeback running: it resumes by itself.
    ASSERT_NO_FATAL_FAILURE(unmount_and_remount(WritebackPace::hard));
    auto deadline = std::chrono::steady_clock::now() + kFlushTimeout;
    std::uint64_t left = dirty();
    while (left != 0 && std::chrono::steady_clock::now() < deadline) left = dirty();
    EXPECT_EQ(left, 0u) << "writeback did not resume after the remount; log:\n" << t().daemon_log();
    EXPECT_GT(stat_xattr(t().mnt(), "bytes_written_back").value_or(0), 0u);
    ASSERT_TRUE(t().stop().has_value());
    expect_backing_exactly();
}

TEST_F(WritebackCrashTest, AFlushKilledHalfWayIsDoneAgain) {
    for (int i = 0; i < 12; ++i) {
        ASSERT_NO_FATAL_FAILURE(write_synced("f" + std::to_string(i), random_bytes(rng_, 512 << 10)));
    }
    ASSERT_GT(dirty(), 0u);
    std::string err = start_flush(t().mnt());
    ASSERT_TRUE(err.empty()) << err;
    ASSERT_NO_FATAL_FAILURE(crash_and_remount());
    expect_all_read_back();
    // Overwrite part of a file that may have been written back already.
    std::string patch = random_bytes(rng_, 5000);
    {
        int fd = ::open(m("f0").c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_NO_FATAL_FAILURE(pwrite_all(fd, "f0", 4096 - 17, patch));
        ASSERT_EQ(::fsync(fd), 0);
        ASSERT_EQ(::close(fd), 0);
    }
    expected_["f0"].replace(4096 - 17, patch.size(), patch);
    ASSERT_NO_FATAL_FAILURE(flush());
    expect_all_read_back();
    ASSERT_TRUE(t().stop().has_value());
    expect_backing_exactly();
}

}  // namespace
}  // namespace bcl::test
