// End-to-end: the coherency window (actimeo) in front of a slow, counting
// backing (slow_backing.h). Within the window a warm re-read opens and
// reads nothing on the backing, and works while the backing is cut off; a
// miss opens the backing file then, as the reader; a change made on the
// backing is read once the window is over, and never the old data after.
// Outside the window an open file the cache holds whole stays readable
// while the backing is cut off (disconnected reads).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>
#include <utility>

#include "slow_backing.h"

namespace bcl::test {
namespace {

class CoherencyWindowE2eTest : public SlowBackingTest {
protected:
    unsigned long count(const char* kind) { return slow_->counters()[kind]; }
};

// True once `condition` holds, within `seconds`.
bool eventually(const std::function<bool()>& condition, int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

// [offset, offset + len) of `path`, read with O_DIRECT so that exactly that
// range reaches the daemon.
std::optional<std::string> read_range(const std::string& path, off_t offset, std::size_t len) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    void* buf = nullptr;
    if (::posix_memalign(&buf, 4096, len) != 0) {
        ::close(fd);
        return std::nullopt;
    }
    const ssize_t n = ::pread(fd, buf, len, offset);
    std::optional<std::string> out;
    if (n >= 0) out = std::string(static_cast<const char*>(buf), static_cast<std::size_t>(n));
    std::free(buf);
    ::close(fd);
    return out;
}

TEST_F(CoherencyWindowE2eTest, AWarmReReadWithinTheWindowOpensAndReadsNothingOnTheBacking) {
    mount_both("latency_us=200", "actimeo=60");
    const std::string f = mount_->m("f");
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));  // fills the cache
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));  // opens the backing once more
    const unsigned long opens = count("open"), reads = count("read"), releases = count("release");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));
    EXPECT_EQ(count("open"), opens) << "a warm open within the window opened the backing file";
    EXPECT_EQ(count("read"), reads);
    EXPECT_EQ(count("release"), releases);
}

TEST_F(CoherencyWindowE2eTest, TheWindowOutlivesTheKernelForgettingTheInode) {
    mount_both("", "actimeo=60");
    const std::string f = mount_->m("f");
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));
    const unsigned long opens = count("open");
    // The kernel forgets the mount's inodes (and bcl-slowfs's): the next
    // open looks the name up again, and is still answered from the grant.
    ::sync();
    ASSERT_TRUE(write_file("/proc/sys/vm/drop_caches", "2"));
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));
    EXPECT_EQ(count("open"), opens);
}

TEST_F(CoherencyWindowE2eTest, AStatAfterReadsIsAnsweredWithoutTheBackingAndChangesThroughTheMountShow) {
    mount_both("", "actimeo=60,entry_timeout=60,attr_timeout=60");
    const std::string f = mount_->m("f");
    struct stat st {};
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));
    // The reads made the kernel's atime stale; the daemon answers from its
    // copy.
    const unsigned long getattrs = count("getattr");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 300000);
    EXPECT_EQ(count("getattr"), getattrs);
    // Changes through the mount are never hidden by that copy.
    ASSERT_EQ(::chmod(f.c_str(), 0600), 0);
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(::truncate(f.c_str(), 1000), 0);
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 1000);
    ASSERT_TRUE(write_file(f, std::string(5000, 'y')));
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 5000);
    EXPECT_EQ(read_file(f).value_or(""), std::string(5000, 'y'));
}

TEST_F(CoherencyWindowE2eTest, AMissAfterAWindowOpenOpensTheBackingFileThen) {
    mount_both("", "actimeo=60");
    const std::string f = mount_->m("f");
    ASSERT_EQ(read_range(f, 0, 65536).value_or(""), std::string(65536, 'x'));
    ASSERT_EQ(read_range(f, 0, 65536).value_or(""), std::string(65536, 'x'));
    const unsigned long opens = count("open");
    ASSERT_EQ(read_range(f, 0, 65536).value_or(""), std::string(65536, 'x'));
    EXPECT_EQ(count("open"), opens);
    // Not cached yet: the read opens the backing file, and gets the data.
    ASSERT_EQ(read_range(f, 131072, 65536).value_or(""), std::string(65536, 'x'));
    EXPECT_EQ(count("open"), opens + 1);
}

TEST_F(CoherencyWindowE2eTest, CachedFilesStayReadableWhileTheBackingIsCutOffWithinTheWindow) {
    mount_both("", "actimeo=60,entry_timeout=60,attr_timeout=60");
    ASSERT_TRUE(write_file(real_ + "/g", std::string(8192, 'g')));
    const std::string f = mount_->m("f");
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));
    slow_->cut_off();
    const std::string backing_f = mount_->backing() + "/f";
    ASSERT_TRUE(eventually([&] { return !read_file(backing_f).has_value() && errno == ENOTCONN; }, 10));
    EXPECT_EQ(read_file(f).value_or(""), std::string(300000, 'x')) << std::strerror(errno);
    // Not cached: a clean error, not a hang and not stale data.
    EXPECT_FALSE(read_file(mount_->m("g")).has_value());
    slow_->bring_back();
    ASSERT_TRUE(eventually([&] { return read_file(backing_f).has_value(); }, 10));
    EXPECT_EQ(read_file(mount_->m("g")).value_or(""), std::string(8192, 'g'));
}

TEST_F(CoherencyWindowE2eTest, AnOpenFileHeldWholeStaysReadableWhileTheBackingIsCutOffOutsideTheWindow) {
    mount_both("", "actimeo=0");
    ASSERT_TRUE(write_file(real_ + "/g", std::string(8192, 'g')));
    // O_DIRECT: every read reaches the daemon, none is the kernel's copy.
    const int f = ::open(mount_->m("f").c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    const int g = ::open(mount_->m("g").c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    ASSERT_GE(f, 0) << std::strerror(errno);
    ASSERT_GE(g, 0) << std::strerror(errno);
    void* buf = nullptr;
    ASSERT_EQ(::posix_memalign(&buf, 4096, 303104), 0);
    const auto read_all = [&](int fd) {
        const ssize_t n = ::pread(fd, buf, 303104, 0);
        if (n < 0) return std::optional<std::string>();
        return std::optional<std::string>(std::in_place, static_cast<const char*>(buf), static_cast<std::size_t>(n));
    };
    ASSERT_EQ(read_all(f).value_or(""), std::string(300000, 'x'));  // fills the cache
    slow_->cut_off();
    const std::string backing_f = mount_->backing() + "/f";
    ASSERT_TRUE(eventually([&] { return !read_file(backing_f).has_value() && errno == ENOTCONN; }, 10));
    EXPECT_EQ(read_all(f).value_or(""), std::string(300000, 'x')) << std::strerror(errno);
    errno = 0;
    EXPECT_FALSE(read_all(g).has_value()) << "not cached";
    EXPECT_EQ(errno, ENOTCONN);
    slow_->bring_back();
    ASSERT_TRUE(eventually([&] { return read_file(backing_f).has_value(); }, 10));
    EXPECT_GE(stat_xattr(mount_->mnt(), "offline_reads").value_or(0), 1u);
    EXPECT_EQ(read_all(f).value_or(""), std::string(300000, 'x'));
    EXPECT_EQ(stat_xattr(mount_->mnt(), "backing_offline"), 0u);
    std::free(buf);
    ::close(f);
    ::close(g);
}

TEST_F(CoherencyWindowE2eTest, AChangeOnTheBackingIsReadOnceTheWindowIsOverAndNeverTheOldDataAfter) {
    mount_both("", "actimeo=1");
    const std::string f = mount_->m("f");
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));
    ASSERT_EQ(read_file(f).value_or(""), std::string(300000, 'x'));
    struct stat st {};
    ASSERT_EQ(::stat((real_ + "/f").c_str(), &st), 0);
    ASSERT_TRUE(wait_for_clock_past(st.st_ctim));
    // Same size, new bytes, written on the backing behind the cache's back.
    const std::string changed = std::string(4096, 'x') + std::string(8192, 'N') + std::string(300000 - 12288, 'x');
    {
        const int fd = ::open((real_ + "/f").c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pwrite(fd, changed.data() + 4096, 8192, 4096), 8192);
        ::close(fd);
    }
    EXPECT_TRUE(eventually([&] { return read_file(f).value_or("") == changed; }, 10))
        << "the change was not read after the window";
    for (int i = 0; i < 5; ++i) EXPECT_EQ(read_file(f).value_or(""), changed) << "the old data came back";
}

}  // namespace
}  // namespace bcl::test
