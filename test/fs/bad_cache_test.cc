// End-to-end: a cache the daemon must refuse (DESIGN.md, invariant 7): an
// unformatted file (zeros, random bytes), a corrupt superblock, an index
// that belongs to another cache, a missing cache file without cache_size,
// a missing index of a cache that may hold dirty data.
// Each is refused with one line on stderr and a non-zero exit status;
// nothing is mounted, and neither the cache file nor the backing directory
// changes (checked by checksums before and after). An existing file is
// never formatted over, even with cache_size= given.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

class BadCacheTest : public testing::Test {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
        MountSpec spec;
        spec.options = "allow_other,entry_timeout=0,attr_timeout=0";
        spec.cache_size = "";
        mount_ = std::make_unique<TestMount>(spec, TestMount::Deferred{});
        ASSERT_TRUE(mount_->error().empty()) << mount_->error();
        std::mt19937_64 rng(55);
        ASSERT_TRUE(write_file(t().b("a"), random_bytes(rng, 300000)));
        ASSERT_EQ(::mkdir(t().b("dir").c_str(), 0755), 0);
        ASSERT_TRUE(write_file(t().b("dir/b"), "bee"));
    }
    void TearDown() override {
        if (mount_ && is_mounted(mount_->mnt())) unmount(mount_->mnt());
        mount_.reset();
    }

    TestMount& t() { return *mount_; }
    std::string at_base(const std::string& name) { return t().base() + "/" + name; }

    // Runs the daemon as mount.fuse3 would (it detaches once mounted) on
    // the cache `cache` with -o `options`, and checks the refusal.
    void expect_refused(const std::string& cache, const std::string& options, const std::vector<std::string>& needles) {
        const bool cache_existed = ::access(cache.c_str(), F_OK) == 0;
        const FileSum cache_before = file_sum(cache);
        const std::string tree_before = tree_listing(t().backing());
        const bool index_existed = ::access(t().index_path().c_str(), F_OK) == 0;
        const std::string opts = "cache=" + cache + "," + options;

        RunResult r = run_program({daemon_path(), t().backing(), t().mnt(), "-o", opts});
        SCOPED_TRACE("-o " + opts + "\nstderr: " + r.err);
        EXPECT_FALSE(r.timed_out);
        EXPECT_GT(r.exit_code(), 0) << "wait status " << r.status;
        ASSERT_FALSE(r.err.empty());
        EXPECT_EQ(r.err.rfind("bcachefs-lite: ", 0), 0u);
        EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "exactly one line";
        for (const std::string& needle : needles)
            EXPECT_NE(r.err.find(needle), std::string::npos) << "should name " << needle;
        if (is_mounted(t().mnt())) {
            ADD_FAILURE() << "mounted although refused";
            unmount(t().mnt());
        }
        EXPECT_EQ(::access(cache.c_str(), F_OK) == 0, cache_existed);
        EXPECT_EQ(file_sum(cache), cache_before) << "the cache file changed";
        EXPECT_EQ(tree_listing(t().backing()), tree_before) << "the backing directory changed";
        if (!index_existed) {
            EXPECT_NE(::access(t().index_path().c_str(), F_OK), 0) << "an index was left behind";
        }
    }

    std::string index_opt() { return "index=" + t().index_path(); }

    // Mounts t()'s own cache, reads every file twice and unmounts cleanly.
    void use_cache_once() {
        ASSERT_TRUE(t().start()) << t().error();
        for (int i = 0; i < 2; ++i) {
            EXPECT_EQ(read_file(t().m("a")), read_file(t().b("a")));
            EXPECT_EQ(read_file(t().m("dir/b")), "bee");
        }
        std::optional<int> status = t().stop();
        ASSERT_TRUE(status.has_value());
        ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << t().daemon_log();
    }

    std::unique_ptr<TestMount> mount_;
};

TEST_F(BadCacheTest, FileOfZerosIsRefused) {
    std::string cache = at_base("zeros.img");
    {
        int fd = ::open(cache.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
        ASSERT_GE(fd, 0);
        std::string zeros(1 << 20, '\0');
        for (int i = 0; i < 16; ++i)
            ASSERT_EQ(::write(fd, zeros.data(), zeros.size()), static_cast<ssize_t>(zeros.size()));
        ::close(fd);
    }
    expect_refused(cache, index_opt(), {cache});
    expect_refused(cache, "cache_size=64M," + index_opt(), {cache});
}

TEST_F(BadCacheTest, FileOfRandomBytesIsRefused) {
    std::string cache = at_base("random.img");
    std::mt19937_64 rng(56);
    ASSERT_TRUE(write_file(cache, random_bytes(rng, 16 << 20)));
    expect_refused(cache, index_opt(), {cache});
    expect_refused(cache, "cache_size=64M," + index_opt(), {cache});
}

TEST_F(BadCacheTest, CorruptSuperblockIsRefused) {
    ASSERT_EQ(format_cache(t().cache_path(), "64M"), "");
    use_cache_once();
    {
        int fd = ::open(t().cache_path().c_str(), O_RDWR);
        ASSERT_GE(fd, 0);
        unsigned char byte = 0;
        ASSERT_EQ(::pread(fd, &byte, 1, 4096 + 100), 1);
        byte ^= 0xff;
        ASSERT_EQ(::pwrite(fd, &byte, 1, 4096 + 100), 1);
        ASSERT_EQ(::fsync(fd), 0);
        ::close(fd);
    }
    expect_refused(t().cache_path(), index_opt(), {t().cache_path()});
    expect_refused(t().cache_path(), "cache_size=64M," + index_opt(), {t().cache_path()});
    // A freshly formatted file with the same damage, and no index yet.
    std::string fresh = at_base("fresh.img");
    ASSERT_EQ(format_cache(fresh, "64M"), "");
    int fd = ::open(fresh.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    unsigned char byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, 4096 + 100), 1);
    byte ^= 0x01;
    ASSERT_EQ(::pwrite(fd, &byte, 1, 4096 + 100), 1);
    ::close(fd);
    expect_refused(fresh, "index=" + at_base("fresh-index"), {fresh});
    EXPECT_NE(::access(at_base("fresh-index").c_str(), F_OK), 0) << "an index was left behind";
}

TEST_F(BadCacheTest, IndexOfAnotherCacheIsRefusedNamingBothUuids) {
    ASSERT_EQ(format_cache(t().cache_path(), "64M"), "");
    std::string other = at_base("other.img");
    ASSERT_EQ(format_cache(other, "64M"), "");
    std::string uuid_a = cache_uuid(t().cache_path());
    std::string uuid_b = cache_uuid(other);
    ASSERT_FALSE(uuid_a.empty());
    ASSERT_FALSE(uuid_b.empty());
    ASSERT_NE(uuid_a, uuid_b);

    use_cache_once();  // the index now belongs to cache A
    expect_refused(other, index_opt(), {uuid_a, uuid_b});
    expect_refused(other, "cache_size=64M," + index_opt(), {uuid_a, uuid_b});

    // The index is still A's and intact: A mounts with it and its cached
    // data serves at once.
    ASSERT_TRUE(t().start()) << t().error();
    EXPECT_EQ(read_file(t().m("a")), read_file(t().b("a")));
    EXPECT_GT(stat_xattr(t().mnt(), "cache_hits").value_or(0), 0u);
}

TEST_F(BadCacheTest, MissingCacheWithoutCacheSizeIsRefused) {
    std::string cache = at_base("nothing.img");
    expect_refused(cache, index_opt(), {cache, "does not exist"});
}

TEST_F(BadCacheTest, AMissingIndexOfACacheWithDirtyDataIsRefused) {
    ASSERT_EQ(format_cache(t().cache_path(), "64M"), "");
    MountSpec spec = t().spec();
    spec.options += ",mode=writeback,writeback_running=0";
    t().set_spec(spec);
    ASSERT_TRUE(t().start()) << t().error();
    std::mt19937_64 rng(57);
    const std::string data = random_bytes(rng, 100000);
    {
        const int fd = ::open(t().m("a").c_str(), O_WRONLY | O_TRUNC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
        ASSERT_EQ(::fsync(fd), 0);
        ::close(fd);
    }
    ASSERT_GT(dirty_bytes(t().m("a")).value_or(0), 0u) << "the write did not stay in the cache";
    std::optional<int> status = t().stop();
    ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << t().daemon_log();

    const std::string saved = at_base("index.saved");
    std::filesystem::rename(t().index_path(), saved);
    expect_refused(t().cache_path(), index_opt(), {"dirty data", t().index_path()});

    // With its index back, the cache mounts and serves the dirty data.
    std::filesystem::rename(saved, t().index_path());
    ASSERT_TRUE(t().start()) << t().error();
    EXPECT_EQ(read_file(t().m("a")), data);
}

TEST_F(BadCacheTest, AMissingIndexOfACleanCacheMeansAColdCache) {
    ASSERT_EQ(format_cache(t().cache_path(), "64M"), "");
    use_cache_once();
    std::filesystem::remove_all(t().index_path());
    ASSERT_TRUE(t().start()) << t().error();
    EXPECT_NE(t().daemon_log().find("starts empty"), std::string::npos) << t().daemon_log();
    EXPECT_EQ(cached_bytes(t().m("a")).value_or(1), 0u);
    EXPECT_EQ(read_file(t().m("a")), read_file(t().b("a")));
}

}  // namespace
}  // namespace bcl::test
