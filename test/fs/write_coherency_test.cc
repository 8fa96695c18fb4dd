// End-to-end: writes, truncates, unlinks and renames through the mount are
// visible at once and never leave stale cached data behind: after each
// change every read (a new open, and O_DIRECT) equals the new contents, and
// so does the backing file. Changes of metadata alone (rename, chmod,
// chown, utimens, link) keep the cached data.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

class WriteCoherencyTest : public CacheMountTest {
protected:
    // Reads `rel` through the mount (page-cache and O_DIRECT reads, each
    // from a new open) and from the backing directory: all equal `want`.
    void expect_contents(const std::string& rel, const std::string& want, const std::string& step) {
        SCOPED_TRACE(step);
        expect_mount_reads(rel, want);
        auto backing = read_file(b(rel));
        ASSERT_TRUE(backing.has_value());
        EXPECT_TRUE(*backing == want) << "backing file differs";
    }

    // Caches `before_rel`, runs `change` through the mount (which leaves
    // the file named `rel`) and checks that the next read of it hits.
    void expect_stays_warm(const std::string& before_rel, const std::string& rel, const std::function<void()>& change);

    // Caches `rel` by reading it and checks that something of it is cached.
    void cache(const std::string& rel) {
        ASSERT_TRUE(read_whole(m(rel)).has_value());
        auto cached = cached_bytes(m(rel));
        ASSERT_TRUE(cached.has_value());
        ASSERT_GT(*cached, 0u) << rel << " did not get cached";
    }
};

void overwrite(std::string& shadow, std::uint64_t offset, const std::string& data) {
    if (shadow.size() < offset + data.size()) shadow.resize(offset + data.size(), '\0');
    shadow.replace(offset, data.size(), data);
}

TEST_F(WriteCoherencyTest, WritesAfterACachedReadAreReadBack) {
    std::mt19937_64 rng(5);
    std::string shadow = random_bytes(rng, (1 << 20) + 123);
    put_backing("f", shadow);
    cache("f");
    struct Write {
        std::uint64_t offset;
        std::size_t len;
        const char* what;
    };
    const Write writes[] = {
        {5000, 10, "inside one block"},
        {8190, 5, "across a block boundary"},
        {65536, 4096, "one aligned block"},
        {100000, 300000, "many blocks, unaligned"},
        {(1 << 20) + 100, 100, "across end of file"},
        {(1 << 20) + 40000, 7, "past end of file, leaving a hole"},
        {0, 1, "the first byte"},
    };
    int fd = ::open(m("f").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    for (const Write& w : writes) {
        std::string data = random_bytes(rng, w.len);
        ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(w.offset)), static_cast<ssize_t>(w.len))
            << w.what;
        overwrite(shadow, w.offset, data);
        expect_contents("f", shadow, w.what);
        cache("f");  // the next write meets cached blocks again
    }
    ASSERT_EQ(::close(fd), 0);
    expect_contents("f", shadow, "after close");
}

TEST_F(WriteCoherencyTest, WriteThroughOneDescriptorIsSeenByAnotherOpenOne) {
    std::mt19937_64 rng(6);
    std::string shadow = random_bytes(rng, 200000);
    put_backing("f", shadow);
    int reader = ::open(m("f").c_str(), O_RDONLY | O_DIRECT);
    ASSERT_GE(reader, 0);
    ASSERT_EQ(pread_aligned(reader, 0, shadow.size()), shadow);  // caches it
    ASSERT_EQ(pread_aligned(reader, 0, shadow.size()), shadow);
    int writer = ::open(m("f").c_str(), O_WRONLY);
    ASSERT_GE(writer, 0);
    std::string data = random_bytes(rng, 12345);
    ASSERT_EQ(::pwrite(writer, data.data(), data.size(), 77777), static_cast<ssize_t>(data.size()));
    overwrite(shadow, 77777, data);
    EXPECT_TRUE(pread_aligned(reader, 0, shadow.size()) == shadow) << "the open O_DIRECT reader saw old bytes";
    EXPECT_TRUE(pread_aligned(reader, 77000, 20000) == shadow.substr(77000, 20000));
    ::close(writer);
    ::close(reader);
    expect_contents("f", shadow, "after both closed");
}

TEST_F(WriteCoherencyTest, TruncateShrinkAndGrowNeverShowOldBytes) {
    std::mt19937_64 rng(8);
    std::string shadow = random_bytes(rng, 300000);
    put_backing("f", shadow);
    cache("f");

    ASSERT_EQ(::truncate(m("f").c_str(), 5000), 0) << std::strerror(errno);
    shadow.resize(5000);
    expect_contents("f", shadow, "truncate(2) shrink to 5000");

    ASSERT_EQ(::truncate(m("f").c_str(), 300000), 0);
    shadow.resize(300000, '\0');
    expect_contents("f", shadow, "truncate(2) grow back: zeros, not the old bytes");
    cache("f");

    int fd = ::open(m("f").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 4097), 0);
    shadow.resize(4097);
    expect_contents("f", shadow, "ftruncate shrink to 4097");
    ASSERT_EQ(::ftruncate(fd, 70000), 0);
    shadow.resize(70000, '\0');
    expect_contents("f", shadow, "ftruncate grow to 70000");
    ::close(fd);
    cache("f");

    std::string fresh = random_bytes(rng, 1000);
    ASSERT_TRUE(write_file(m("f"), fresh));  // open with O_TRUNC, then write
    expect_contents("f", fresh, "O_TRUNC and rewrite");
    cache("f");
    ASSERT_EQ(::truncate(m("f").c_str(), 0), 0);
    expect_contents("f", "", "truncate to 0");
}

TEST_F(WriteCoherencyTest, AppendAfterTheCachedTailIsReadBack) {
    put_backing("log", "first line\n");
    cache("log");
    int fd = ::open(m("log").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "second\n", 7), 7);
    ::close(fd);
    expect_contents("log", "first line\nsecond\n", "after the append");
}

TEST_F(WriteCoherencyTest, UnlinkAndRecreateNeverShowsTheOldFile) {
    std::mt19937_64 rng(9);
    constexpr std::size_t kSize = 200000;
    bool inode_reused = false;
    // Backing file systems commonly hand a freed inode number to the next
    // file created; repeat until that happened (or give up after a while).
    for (int round = 0; round < 64 && !inode_reused; ++round) {
        std::string old_data = random_bytes(rng, kSize);
        ASSERT_TRUE(write_file(m("victim"), old_data));
        cache("victim");
        struct stat old_st {};
        ASSERT_EQ(::stat(m("victim").c_str(), &old_st), 0);
        ASSERT_EQ(::unlink(m("victim").c_str()), 0);
        std::string new_data = random_bytes(rng, kSize);
        ASSERT_TRUE(write_file(m("victim"), new_data));
        struct stat new_st {};
        ASSERT_EQ(::stat(m("victim").c_str(), &new_st), 0);
        inode_reused = new_st.st_ino == old_st.st_ino;
        expect_contents("victim", new_data, "round " + std::to_string(round) + (inode_reused ? " (inode reused)" : ""));
        if (HasFailure()) return;
        ASSERT_EQ(::unlink(m("victim").c_str()), 0);
    }
    RecordProperty("inode_reused", inode_reused ? "yes" : "no");
}

TEST_F(WriteCoherencyTest, RenameOverACachedFileShowsTheNewOne) {
    std::mt19937_64 rng(10);
    put_backing("target", random_bytes(rng, 150000));
    cache("target");
    std::string replacement = random_bytes(rng, 150000);
    ASSERT_TRUE(write_file(m("incoming"), replacement));
    cache("incoming");
    ASSERT_EQ(::rename(m("incoming").c_str(), m("target").c_str()), 0);
    expect_contents("target", replacement, "after rename over");
}

// Metadata changes through the mount (rename, chmod, chown, utimens, link)
// change the backing file's ctime, not its data: the cache stays warm.
// `change` runs once the clock has moved past the file's ctime, so that it
// surely stamps a new one; then `rel` (the file's name afterwards) is read
// through the mount, and every byte must come from the cache.
void WriteCoherencyTest::expect_stays_warm(const std::string& before_rel, const std::string& rel,
                                           const std::function<void()>& change) {
    std::mt19937_64 rng(std::hash<std::string>{}(rel));
    const std::string data = random_bytes(rng, 150000);
    put_backing(before_rel, data);
    cache(before_rel);
    const auto cached = cached_bytes(m(before_rel));
    ASSERT_TRUE(cached.has_value());
    struct stat st0 {};
    ASSERT_EQ(::stat(b(before_rel).c_str(), &st0), 0);
    ASSERT_TRUE(wait_for_clock_past(st0.st_ctim));
    change();
    if (HasFatalFailure()) return;
    struct stat st1 {};
    ASSERT_EQ(::stat(b(rel).c_str(), &st1), 0);
    ASSERT_EQ(st1.st_ino, st0.st_ino);
    ASSERT_FALSE(st1.st_ctim.tv_sec == st0.st_ctim.tv_sec && st1.st_ctim.tv_nsec == st0.st_ctim.tv_nsec)
        << "the change did not touch ctime, so it proves nothing";
    EXPECT_EQ(cached_bytes(m(rel)), cached);
    Stats s0 = stats();
    EXPECT_TRUE(read_whole(m(rel)) == data);
    Stats s1 = stats();
    EXPECT_GT(s1["cache_hits"], s0["cache_hits"]);
    EXPECT_EQ(s1["cache_misses"], s0["cache_misses"]) << "the cached data was dropped\n" << s1.text();
    EXPECT_EQ(cached_bytes(m(rel)), cached);
}

TEST_F(WriteCoherencyTest, RenameKeepsTheCachedData) {
    expect_stays_warm("before", "after",
                      [&] { ASSERT_EQ(::rename(m("before").c_str(), m("after").c_str()), 0) << std::strerror(errno); });
}

TEST_F(WriteCoherencyTest, RenameExchangeKeepsBothFilesCachedData) {
    std::mt19937_64 rng(12);
    const std::string other = random_bytes(rng, 70000);
    put_backing("other", other);
    cache("other");
    expect_stays_warm("one", "other", [&] {
        ASSERT_EQ(::renameat2(AT_FDCWD, m("one").c_str(), AT_FDCWD, m("other").c_str(), RENAME_EXCHANGE), 0)
            << std::strerror(errno);
    });
    Stats s0 = stats();
    EXPECT_TRUE(read_whole(m("one")) == other);
    Stats s1 = stats();
    EXPECT_EQ(s1["cache_misses"], s0["cache_misses"]) << "the other file's cached data was dropped";
}

TEST_F(WriteCoherencyTest, ChmodKeepsTheCachedData) {
    expect_stays_warm("f", "f", [&] { ASSERT_EQ(::chmod(m("f").c_str(), 0600), 0) << std::strerror(errno); });
}

TEST_F(WriteCoherencyTest, UtimensKeepsTheCachedData) {
    expect_stays_warm("f", "f", [&] {
        const struct timespec times[2] = {{1000000, 0}, {2000000, 0}};
        ASSERT_EQ(::utimensat(AT_FDCWD, m("f").c_str(), times, 0), 0) << std::strerror(errno);
        struct stat st {};
        ASSERT_EQ(::stat(b("f").c_str(), &st), 0);
        ASSERT_EQ(st.st_mtim.tv_sec, 2000000);
    });
    // touch: both times now.
    struct stat st0 {};
    ASSERT_EQ(::stat(b("f").c_str(), &st0), 0);
    ASSERT_TRUE(wait_for_clock_past(st0.st_ctim));
    ASSERT_EQ(::utimensat(AT_FDCWD, m("f").c_str(), nullptr, 0), 0);
    Stats s0 = stats();
    EXPECT_TRUE(read_whole(m("f")).has_value());
    Stats s1 = stats();
    EXPECT_EQ(s1["cache_misses"], s0["cache_misses"]) << "touch dropped the cached data";
}

TEST_F(WriteCoherencyTest, ChownAndLinkKeepTheCachedData) {
    expect_stays_warm("f", "f", [&] { ASSERT_EQ(::chown(m("f").c_str(), kNobody, kNogroup), 0); });
    expect_stays_warm("g", "g2", [&] { ASSERT_EQ(::link(m("g").c_str(), m("g2").c_str()), 0); });
}

// Invariant 5 still holds: a change behind the cache's back, followed by a
// chmod through the mount, is detected at the next open.
TEST_F(WriteCoherencyTest, AChangeBehindTheBackBeforeAChmodIsStillDetected) {
    std::mt19937_64 rng(13);
    put_backing("f", random_bytes(rng, 150000));
    cache("f");
    struct stat st0 {};
    ASSERT_EQ(::stat(b("f").c_str(), &st0), 0);
    ASSERT_TRUE(wait_for_clock_past(st0.st_mtim));
    pwrite_backing("f", 50000, random_bytes(rng, 1000));  // same size
    struct stat st1 {};
    ASSERT_EQ(::stat(b("f").c_str(), &st1), 0);
    ASSERT_TRUE(wait_for_clock_past(st1.st_ctim));
    ASSERT_EQ(::chmod(m("f").c_str(), 0600), 0);
    Stats s0 = stats();
    expect_contents("f", expected_["f"], "changed behind the back, then chmod through the mount");
    Stats s1 = stats();
    EXPECT_GT(s1["cache_misses"], s0["cache_misses"]);
}

}  // namespace
}  // namespace bcl::test
