// Opening and closing a cache set: creation, the index's owner, restart
// with a warm cache, clean and unclean shutdown, the background thread.
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "cache_fixture.h"

namespace bcl::test {
namespace {

TEST_F(CacheTest, CreateSizeCreatesAndFormatsACacheFile) {
    CacheSetOptions o = options();
    o.create_size = 64u << 20;
    open_set(std::move(o));
    struct stat st;
    ASSERT_EQ(::stat(cache_path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), 64u << 20);
    EXPECT_EQ(set_->superblock().bucket_size, kDefaultBucketSize);
    EXPECT_EQ(set_->stats().buckets_total, set_->superblock().usable_buckets());
    EXPECT_GT(set_->stats().buckets_free, 0u);
    EXPECT_EQ(set_->stats().gc_runs, 1u);
}

TEST_F(CacheTest, AMissingCacheWithoutCreateSizeIsRefused) {
    auto set = CacheSet::open(options(), log_);
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().code, Errc::not_found);
    EXPECT_EQ(set.error().message.find('\n'), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(index_dir_));
}

TEST_F(CacheTest, AnExistingFileIsNeverFormatted) {
    write_whole(cache_path_, std::string(1 << 20, 'x'));
    CacheSetOptions o = options();
    o.create_size = 64u << 20;
    auto set = CacheSet::open(std::move(o), log_);
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().code, Errc::foreign) << set.error().message;
    EXPECT_EQ(backing_read(cache_path_, 0, 2 << 20), std::string(1 << 20, 'x'));
    EXPECT_FALSE(std::filesystem::exists(index_dir_));
}

TEST_F(CacheTest, AnIndexOfAnotherCacheIsRefusedAndNothingIsCreated) {
    format_cache(64);
    open_set();
    ASSERT_TRUE(set_->close());
    set_.reset();

    // Another cache, created by this open, with the first one's index.
    CacheSetOptions o = options();
    o.cache_paths = {dir_.file("other.img")};
    o.create_size = 64u << 20;
    auto set = CacheSet::open(std::move(o), log_);
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().code, Errc::foreign);
    EXPECT_NE(set.error().message.find("belongs to cache"), std::string::npos) << set.error().message;
    EXPECT_EQ(set.error().message.find('\n'), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir_.file("other.img"))) << "the file this open created is removed";
    // The first cache still opens with its index.
    open_set();
}

// The descriptors this process holds.
std::size_t open_descriptors() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

TEST_F(CacheTest, ARefusedOpenClosesWhatItOpened) {
    format_cache(64);
    open_set();
    ASSERT_TRUE(set_->close());
    set_.reset();
    ASSERT_TRUE(open_backing_root());

    // Refused at the index, after the backing directory was opened for
    // the set: another cache with the first one's index.
    const std::size_t before = open_descriptors();
    CacheSetOptions o = options();
    o.backing_root_fd = root_fd_;
    o.cache_paths = {dir_.file("other.img")};
    o.create_size = 64u << 20;
    auto set = CacheSet::open(std::move(o), log_);
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().code, Errc::foreign) << set.error().message;
    EXPECT_EQ(open_descriptors(), before) << "a refused open left a descriptor open";
}

TEST_F(CacheTest, AfterARestartTheFirstReadIsAHit) {
    format_cache(96);
    open_set();
    const std::string data = random_bytes(rng_, 150000);
    write_whole(path("a"), data);
    {
        // Read twice: the hit keeps the file's buckets young while the
        // others age, and the prios survive the clean close.
        EngineFile f(*set_, path("a"));
        EXPECT_EQ(f.read(0, data.size()), data);
        EXPECT_EQ(f.read(0, data.size()), data);
    }
    auto clean = set_->index().clean_shutdown();
    ASSERT_TRUE(clean);
    EXPECT_FALSE(clean.value()) << "the clean flag is down while open";
    reopen_set();
    EXPECT_TRUE(set_->opened_clean());
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(set_->stats().cache_hits, 1u);
    EXPECT_EQ(set_->stats().cache_misses, 0u);
}

TEST_F(CacheTest, AfterAnUncleanShutdownTheCacheStartsCold) {
    format_cache(96);
    open_set();
    const std::string data = random_bytes(rng_, 100000);
    write_whole(path("a"), data);
    {
        EngineFile f(*set_, path("a"));
        EXPECT_EQ(f.read(0, data.size()), data);
    }
    ASSERT_TRUE(set_->close());
    set_.reset();
    {
        // As if the daemon had died: the flag stays down.
        IndexOptions io;
        auto index = Index::open(index_dir_, io);
        ASSERT_TRUE(index);
        ASSERT_TRUE(index.value()->set_clean_shutdown(false));
    }
    open_set();
    EXPECT_FALSE(set_->opened_clean());
    auto report = set_->check_consistency();
    ASSERT_TRUE(report);
    EXPECT_EQ(report.value().extents, 0u);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(set_->stats().cache_misses, 1u);
}

TEST_F(CacheTest, WithTheBackgroundThreadReadsWritesAndCloseWork) {
    format_cache(64);
    CacheSetOptions o = options();
    o.manual_background = false;
    o.gc_interval = std::chrono::milliseconds(5);
    open_set(std::move(o));
    for (int i = 0; i < 8; ++i) write_whole(path("f" + std::to_string(i)), random_bytes(rng_, 700000));
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < 8; ++i) {
            const std::string name = path("f" + std::to_string(i));
            EngineFile f(*set_, name);
            ASSERT_EQ(f.read_chunked(0, 700000), backing_read(name, 0, 700000));
            ASSERT_EQ(f.read_chunked(0, 700000), backing_read(name, 0, 700000));
            if (i % 3 == 0) f.write(1000 * i, "written");
            ASSERT_EQ(f.read_chunked(0, 700000), backing_read(name, 0, 700000));
        }
    }
    ASSERT_TRUE(set_->run_gc());
    EXPECT_GE(set_->stats().gc_runs, 2u);
    EXPECT_GT(set_->stats().cache_hits, 0u);
    ASSERT_TRUE(set_->close());
    set_.reset();
}

// Where the cache was at each open, so that `bcachefs-lite-ctl index list`
// can tell a cache that is gone from one that is only not mounted.
TEST_F(CacheTest, EachOpenRecordsItsCachePathsMadeAbsoluteAndTheTime) {
    format_cache(64);
    auto last_mount = [this]() -> MountRecord {
        IndexOptions io;
        io.read_only = true;
        auto index = Index::open(index_dir_, io);
        EXPECT_TRUE(index) << index.error().message;
        if (!index) return {};
        auto m = index.value()->last_mount();
        EXPECT_TRUE(m && m.value()) << (m ? "no mount record" : m.error().message);
        return m && m.value() ? *m.value() : MountRecord{};
    };
    const auto before = static_cast<std::uint64_t>(::time(nullptr));
    open_set();
    ASSERT_TRUE(set_->close());
    set_.reset();
    MountRecord m = last_mount();
    EXPECT_EQ(m.cache_paths, std::vector<std::string>{cache_path_});
    EXPECT_GE(m.time, before);
    EXPECT_LE(m.time, static_cast<std::uint64_t>(::time(nullptr)));

    // A relative path is recorded as the absolute one, symbolic links kept.
    ASSERT_EQ(::symlink("cache.img", dir_.file("link.img").c_str()), 0);
    const std::string cwd = std::filesystem::current_path().string();
    ASSERT_EQ(::chdir(dir_.path().c_str()), 0);
    CacheSetOptions o = options();
    o.cache_paths = {"link.img"};
    auto set = CacheSet::open(std::move(o), log_);
    EXPECT_EQ(::chdir(cwd.c_str()), 0);
    ASSERT_TRUE(set) << set.error().message;
    ASSERT_TRUE(set.value()->close());
    set.value().reset();
    EXPECT_EQ(last_mount().cache_paths, std::vector<std::string>{dir_.file("link.img")});
}

}  // namespace
}  // namespace bcl::test
