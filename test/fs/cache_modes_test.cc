// End-to-end: the cache modes chosen at mount.
//   writearound: a write reaches the backing file at once and fills nothing;
//     the next read of the range is a miss, the one after a hit.
//   writeback: a write stays in the cache as dirty data; the backing file
//     takes only the new size until the data is written back. Reads and
//     stat through the mount show the new data; `bcachefs-lite-ctl flush`
//     writes it all back; a clean unmount keeps it, and the next mount
//     writes it back; copy_file_range and SEEK_DATA see the written data.
// Writeback runs with writeback_running=0, so nothing is written back
// behind the test's back, except where the test is about it.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

// pwrite of all of `data` at `offset` into `path` through a new descriptor
// opened with `flags`; false on error.
bool pwrite_file(const std::string& path, std::uint64_t offset, const std::string& data, int flags = 0) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
    if (fd < 0) return false;
    bool ok = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)) == static_cast<ssize_t>(data.size());
    return ::close(fd) == 0 && ok;
}

off_t size_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

class ModeTest : public CacheMountTest {
protected:
    virtual std::string mode_options() const = 0;
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        spec.options += "," + mode_options();
        return spec;
    }
};

class WritearoundTest : public ModeTest {
protected:
    std::string mode_options() const override { return "mode=writearound"; }
};

TEST_F(WritearoundTest, AWriteReachesTheBackingFileAndTheNextReadMissesThenHits) {
    EXPECT_EQ(get_xattr(t().mnt(), std::string(kStatPrefix) + "cache_mode"), "writearound");
    std::mt19937_64 rng(401);
    put_backing("f", random_bytes(rng, 64 * kBlock));
    expect_all_read_back();
    const std::uint64_t cached_before = cached_bytes(m("f")).value_or(0);
    ASSERT_EQ(cached_before, 64 * kBlock) << "the whole file is cached";

    const std::string data = random_bytes(rng, 2 * kBlock);
    ASSERT_TRUE(pwrite_file(m("f"), 8 * kBlock, data));
    expected_["f"].replace(8 * kBlock, data.size(), data);
    EXPECT_TRUE(read_file(b("f")) == expected_["f"]) << "the write did not reach the backing file at once";
    EXPECT_EQ(cached_bytes(m("f")), cached_before - data.size()) << "the write filled the cache or left stale data";
    EXPECT_EQ(dirty_bytes(m("f")), 0u);

    int fd = ::open(m("f").c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    Stats s0 = stats();
    EXPECT_EQ(pread_aligned(fd, 8 * kBlock, data.size()), data);
    Stats s1 = stats();
    EXPECT_GT(s1["cache_misses"], s0["cache_misses"]) << "the written range was not read from the backing file";
    EXPECT_EQ(s1["cache_hits"], s0["cache_hits"]);
    EXPECT_EQ(pread_aligned(fd, 8 * kBlock, data.size()), data);
    Stats s2 = stats();
    EXPECT_GT(s2["cache_hits"], s1["cache_hits"]) << "the miss was not cached";
    EXPECT_EQ(s2["cache_misses"], s1["cache_misses"]);
    ::close(fd);
    EXPECT_EQ(s2["dirty_data"], 0u);
    EXPECT_EQ(s2["bytes_written_dirty"], 0u);
    expect_mount_reads("f", expected_["f"]);
}

class WritebackTest : public ModeTest {
protected:
    std::string mode_options() const override { return "mode=writeback,writeback_running=0"; }

    // Writes `data` through the mount as a new file `rel`.
    void write_new(const std::string& rel, const std::string& data) {
        ASSERT_TRUE(write_file(m(rel), data)) << rel << ": " << std::strerror(errno);
        expected_[rel] = data;
    }

    // Everything in expected_ reads back through the mount; `rel`'s
    // backing file has the right size but not (yet) the bytes.
    void expect_dirty(const std::string& rel) {
        SCOPED_TRACE(rel);
        const std::string& want = expected_[rel];
        expect_mount_reads(rel, want);
        EXPECT_EQ(size_of(m(rel)), static_cast<off_t>(want.size())) << "stat through the mount";
        EXPECT_EQ(size_of(b(rel)), static_cast<off_t>(want.size())) << "the backing file's size";
        auto backing = read_file(b(rel));
        ASSERT_TRUE(backing.has_value());
        EXPECT_FALSE(*backing == want) << "the write reached the backing file";
        EXPECT_GT(dirty_bytes(m(rel)).value_or(0), 0u);
    }

    // bcachefs-lite-ctl flush succeeds and leaves every backing file equal
    // to what the mount reads and nothing dirty.
    void flush_and_expect_clean() {
        RunResult r = run_flush_command(t().mnt());
        ASSERT_TRUE(r.exited_with(0)) << r.err << "daemon log:\n" << t().daemon_log();
        EXPECT_NE(r.err.find("nothing dirty"), std::string::npos) << r.err;
        EXPECT_EQ(stat_xattr(t().mnt(), "dirty_data"), 0u);
        for (const auto& [rel, data] : expected_) {
            SCOPED_TRACE(rel);
            EXPECT_TRUE(read_file(b(rel)) == data) << "the backing file differs after the flush";
            EXPECT_EQ(dirty_bytes(m(rel)), 0u);
        }
        expect_all_read_back();
    }
};

TEST_F(WritebackTest, WritesStayInTheCacheUntilFlushed) {
    if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
    EXPECT_EQ(get_xattr(t().mnt(), std::string(kStatPrefix) + "cache_mode"), "writeback");
    std::mt19937_64 rng(402);
    write_new("new", random_bytes(rng, 10 * kBlock + 123));
    put_backing("old", random_bytes(rng, 5 * kBlock));
    // Overwrite part of an existing file and append to it.
    const std::string patch = random_bytes(rng, 3000);
    ASSERT_TRUE(pwrite_file(m("old"), 2 * kBlock + 100, patch));
    expected_["old"].replace(2 * kBlock + 100, patch.size(), patch);
    const std::string tail = random_bytes(rng, 7000);
    ASSERT_TRUE(pwrite_file(m("old"), 0, tail, O_APPEND));
    expected_["old"] += tail;

    expect_dirty("new");
    expect_dirty("old");
    Stats s = stats();
    EXPECT_GE(s["dirty_data"], expected_["new"].size()) << s.text();
    EXPECT_GE(s["bytes_written_dirty"], expected_["new"].size() + patch.size() + tail.size()) << s.text();
    EXPECT_EQ(s["bytes_written_back"], 0u) << "writeback_running=0 wrote back";

    flush_and_expect_clean();
    EXPECT_GE(stats()["bytes_written_back"], expected_["new"].size());
    // Flushing a clean cache is quick and says so.
    RunResult again = run_flush_command(t().mnt());
    EXPECT_TRUE(again.exited_with(0)) << again.err;
}

TEST_F(WritebackTest, ACleanRemountKeepsDirtyDataAndWritesItBack) {
    if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
    std::mt19937_64 rng(403);
    write_new("a", random_bytes(rng, 3 * kBlock + 17));
    write_new("big", random_bytes(rng, 100000));
    expect_dirty("a");

    std::optional<int> status = t().stop();
    ASSERT_TRUE(status.has_value());
    ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << t().daemon_log();
    EXPECT_FALSE(read_file(b("a")) == expected_["a"]) << "the unmount wrote back with writeback_running=0";

    ASSERT_TRUE(t().start()) << t().error();
    expect_dirty("a");
    expect_dirty("big");
    flush_and_expect_clean();
}

// With writeback running, no delay and a target of nothing dirty, the
// daemon writes everything back on its own.
TEST_F(WritebackTest, RunningWritebackEmptiesTheCacheByItself) {
    std::mt19937_64 rng(404);
    write_new("f", random_bytes(rng, 20 * kBlock + 5));
    ASSERT_GT(stat_xattr(t().mnt(), "dirty_data").value_or(0), 0u);
    for (const char* knob :
         {"writeback_delay=0", "writeback_percent=0", "writeback_rate_minimum=100000000", "writeback_running=1"}) {
        std::string_view kv(knob);
        const std::size_t eq = kv.find('=');
        ASSERT_EQ(set_xattr(t().mnt(), std::string(kStatPrefix) + std::string(kv.substr(0, eq)),
                            std::string(kv.substr(eq + 1))),
                  0)
            << knob;
    }
    EXPECT_TRUE(wait_for_stat(t().mnt(), "dirty_data", [](std::uint64_t v) { return v == 0; }))
        << "dirty data left: " << stat_xattr(t().mnt(), "dirty_data").value_or(0) << "\n"
        << get_xattr(t().mnt(), std::string(kStatPrefix) + "writeback_rate_debug").value_or("?");
    EXPECT_TRUE(read_file(b("f")) == expected_["f"]);
    EXPECT_EQ(dirty_bytes(m("f")), 0u);
}

// The kernel copies backing bytes for copy_file_range, and SEEK_DATA asks
// the backing file where its data is: both see data still dirty in the
// cache, since it is written back first.
TEST_F(WritebackTest, CopyFileRangeAndSeekDataSeeDirtyData) {
    std::mt19937_64 rng(405);
    write_new("src", random_bytes(rng, 6 * kBlock + 99));
    write_new("dst", random_bytes(rng, 8 * kBlock));
    int in = ::open(m("src").c_str(), O_RDONLY | O_CLOEXEC);
    int out = ::open(m("dst").c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(in, 0);
    ASSERT_GE(out, 0);
    // From the middle of a block to the middle of another, so that the
    // destination keeps dirty bytes on both sides of the copied range.
    loff_t off_in = kBlock + 10, off_out = 2 * kBlock + 300;
    const std::size_t len = 3 * kBlock;
    std::size_t done = 0;
    while (done < len) {
        ssize_t n = ::copy_file_range(in, &off_in, out, &off_out, len - done, 0);
        ASSERT_GT(n, 0) << std::strerror(errno);
        done += static_cast<std::size_t>(n);
    }
    ::close(in);
    ::close(out);
    expected_["dst"].replace(2 * kBlock + 300, len, expected_["src"].substr(kBlock + 10, len));
    expect_mount_reads("dst", expected_["dst"]);

    // A new sparse file whose only data, dirty, lies 1 MiB in.
    const std::string data = random_bytes(rng, kBlock);
    ASSERT_TRUE(pwrite_file(m("sparse"), 1 << 20, data));
    expected_["sparse"] = std::string(1 << 20, '\0') + data;
    int fd = ::open(m("sparse").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(::lseek(fd, 0, SEEK_DATA), off_t{1 << 20}) << std::strerror(errno);
    EXPECT_EQ(::lseek(fd, 1 << 20, SEEK_HOLE), off_t{(1 << 20) + kBlock});
    ::close(fd);
    EXPECT_TRUE(read_file(b("sparse")) == expected_["sparse"]) << "SEEK_DATA did not write the data back";
    expect_all_read_back();
}

// A mount that would not use the cache must not serve the backing files'
// older bytes while the cache holds newer ones.
TEST_F(WritebackTest, ModeNoneIsRefusedWhileDirtyDataRemains) {
    if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
    std::mt19937_64 rng(406);
    put_backing("a", random_bytes(rng, 2 * kBlock));
    const std::string old = expected_["a"];
    const std::string patch = random_bytes(rng, 100);
    ASSERT_TRUE(pwrite_file(m("a"), 10, patch));
    expected_["a"].replace(10, patch.size(), patch);
    const MountSpec writeback = t().spec();
    ASSERT_TRUE(t().stop().has_value());

    MountSpec none = writeback;
    none.options = CacheMountTest::mount_spec().options + ",mode=none";
    t().set_spec(none);
    EXPECT_FALSE(t().start()) << "mode=none mounted over dirty data";
    EXPECT_NE(t().error().find("dirty data"), std::string::npos) << t().error();
    EXPECT_TRUE(read_file(b("a")) == old) << "the refused mount changed the backing file";

    t().set_spec(writeback);
    ASSERT_TRUE(t().start()) << t().error();
    flush_and_expect_clean();
    ASSERT_TRUE(t().stop().has_value());
    t().set_spec(none);
    ASSERT_TRUE(t().start()) << t().error();
    expect_all_read_back();
}

// A FUSE file system resolves file handles only while it remembers the
// inode: writeback could not find its files after a restart.
TEST(WritebackBacking, AFuseBackingDirectoryIsRefused) {
    if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    MountSpec spec;
    spec.options += ",mode=none";
    spec.cache_size = "";
    TestMount inner(spec, TestMount::Deferred{});
    ASSERT_EQ(format_cache(inner.cache_path(), "64M"), "");
    ASSERT_TRUE(inner.start()) << inner.error();

    TempDir outer;
    const std::string mnt = outer.path() + "/mnt";
    ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0);
    RunResult r = run_program(
        {daemon_path(), inner.mnt(), mnt, "-o",
         "cache=" + outer.path() + "/cache.img,cache_size=64M,index=" + outer.path() + "/index,mode=writeback"});
    if (is_mounted(mnt)) unmount(mnt);
    EXPECT_FALSE(r.exited_with(0)) << "writeback mounted over a FUSE directory";
    EXPECT_NE(r.err.find("FUSE"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bcl::test
