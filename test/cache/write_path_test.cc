// Writes, truncate, unlink and changes behind the cache's back: a read
// never returns data the backing file no longer holds.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include "cache_fixture.h"

namespace bcl::test {
namespace {

std::uint64_t indexed_bytes(CacheSet& set, std::uint64_t file_id) {
    auto extents = set.index().lookup(file_id, 0, UINT64_MAX);
    EXPECT_TRUE(extents);
    std::uint64_t n = 0;
    if (extents)
        for (const Extent& e : extents.value()) n += e.value.length;
    return n;
}

TEST_F(CacheTest, AWriteInvalidatesAndTheNextReadReturnsTheNewData) {
    format_cache(96);
    open_set();
    std::string data = random_bytes(rng_, 200000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(set_->stats().cache_hits, 1u);

    const std::string patch = random_bytes(rng_, 10001);
    f.write(12345, patch);
    data.replace(12345, patch.size(), patch);
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(backing_read(path("a"), 0, data.size()), data);
    // The untouched blocks stayed cached: a read of them alone hits.
    const auto hits = set_->stats().cache_hits;
    EXPECT_EQ(f.read(100000, 50000), data.substr(100000, 50000));
    EXPECT_EQ(set_->stats().cache_hits, hits + 1);
    EXPECT_GT(set_->stats().sectors_overwritten, 0u);

    // Appending grows the file; the old tail block is not served stale.
    const std::string tail = random_bytes(rng_, 3000);
    f.write(data.size(), tail);
    data += tail;
    EXPECT_EQ(f.read(0, data.size() + 100), data);
    EXPECT_EQ(f.read(0, data.size() + 100), data);

    // Reopening after our own writes keeps the cache: the record followed.
    const std::uint64_t id = f.state->record.file_id;
    EngineFile again(*set_, path("a"));
    EXPECT_EQ(again.state->record.file_id, id);
}

TEST_F(CacheTest, AMissInsertRacingWithAWriteIsSkipped) {
    format_cache(96);
    CacheSetOptions o = options();
    // The write lands between the miss's backing read and its insert.
    std::function<void()> racing_write;
    o.hooks.before_miss_insert = [&racing_write](const CachedFile&, std::uint64_t, std::uint64_t) {
        if (racing_write) {
            auto w = std::move(racing_write);
            racing_write = nullptr;
            w();
        }
    };
    open_set(std::move(o));
    const std::string old_data(40000, 'o');
    write_whole(path("a"), old_data);
    EngineFile f(*set_, path("a"));
    const std::string new_data(40000, 'n');
    racing_write = [&] { f.write(0, new_data); };

    // The read itself saw the old data (it read before the write).
    EXPECT_EQ(f.read(0, 40000), old_data);
    EXPECT_EQ(set_->stats().cache_miss_collisions, 1u);
    // What is cached is the write's own data (writethrough caches what it
    // writes), never the miss's older data.
    EXPECT_EQ(indexed_bytes(*set_, f.state->record.file_id), 40960u);
    EXPECT_EQ(f.read(0, 40000), new_data);
    EXPECT_EQ(f.read(0, 40000), new_data);
    EXPECT_EQ(set_->stats().cache_hits, 2u);
}

TEST_F(CacheTest, ChangesBehindTheCachesBackAreNeverServed) {
    format_cache(96);
    open_set();
    const std::string name = path("a");
    std::string data = random_bytes(rng_, 50000);
    write_whole(name, data);
    auto warm = [&](const std::string& expect) {
        EngineFile f(*set_, name);
        EXPECT_EQ(f.read(0, 60000), expect);
        EXPECT_EQ(f.read(0, 60000), expect);
        set_->run_background_until_idle();
        return f.state->record.file_id;
    };
    std::uint64_t id = warm(data);

    // Size: appended to outside the cache.
    {
        const int fd = ::open(name.c_str(), O_WRONLY | O_APPEND);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, "xyz", 3), 3);
        ::close(fd);
        data += "xyz";
    }
    std::uint64_t id2 = warm(data);
    EXPECT_NE(id2, id);
    EXPECT_EQ(indexed_bytes(*set_, id), 0u) << "the old id's extents are dropped";

    // Content changed in place, same size; mtime put back: ctime tells.
    {
        struct stat before;
        ASSERT_EQ(::stat(name.c_str(), &before), 0);
        const int fd = ::open(name.c_str(), O_WRONLY);
        ASSERT_EQ(::pwrite(fd, "CHANGED", 7, 100), 7);
        ::close(fd);
        data.replace(100, 7, "CHANGED");
        const struct timespec times[2] = {before.st_atim, before.st_mtim};
        ASSERT_EQ(::utimensat(AT_FDCWD, name.c_str(), times, 0), 0);
    }
    std::uint64_t id3 = warm(data);
    EXPECT_NE(id3, id2);

    // Same ino reused by a new file (another birth time, and ctime).
    struct stat old_st;
    ASSERT_EQ(::stat(name.c_str(), &old_st), 0);
    ASSERT_EQ(::unlink(name.c_str()), 0);
    std::string fresh = random_bytes(rng_, data.size());
    bool reused = false;
    for (int i = 0; i < 20 && !reused; ++i) {
        write_whole(name, fresh);
        struct stat st;
        ASSERT_EQ(::stat(name.c_str(), &st), 0);
        reused = st.st_ino == old_st.st_ino;
        if (!reused) {
            ::rename(name.c_str(), path("spare" + std::to_string(i)).c_str());
        }
    }
    if (!reused) write_whole(name, fresh);
    EngineFile f(*set_, name);
    EXPECT_EQ(f.read(0, 60000), fresh) << (reused ? "ino reused" : "ino not reused");
    EXPECT_NE(f.state->record.file_id, id3);
}

TEST_F(CacheTest, AChangeBehindTheCachesBackIsSeenThroughAnOlderDescriptor) {
    // A descriptor opened before the change: no open happens after it, yet
    // the next read through that descriptor must not be served the old
    // contents from the cache.
    format_cache(96);
    open_set();
    const std::string name = path("a");
    std::string data = random_bytes(rng_, 50000);
    write_whole(name, data);
    EngineFile f(*set_, name);
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(f.read(0, data.size()), data);
    ASSERT_EQ(set_->stats().cache_hits, 1u);
    const std::uint64_t id = f.state->record.file_id;

    // Same size, new bytes, once the clock that stamps ctime has moved on.
    ASSERT_TRUE(clock_past(f.backing.stx().stx_ctime));
    const int fd = ::open(name.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "CHANGED", 7, 1000), 7);
    ::close(fd);
    data.replace(1000, 7, "CHANGED");

    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_NE(f.state->record.file_id, id) << "the change was not detected";
    EXPECT_EQ(indexed_bytes(*set_, id), 0u) << "the old contents are still indexed";
    set_->run_background_until_idle();
    EXPECT_EQ(f.read(0, data.size()), data);
}

TEST_F(CacheTest, UnlinkDropsTheFilesExtentsAndRecord) {
    format_cache(96);
    open_set();
    const std::string data = random_bytes(rng_, 70000);
    write_whole(path("a"), data);
    std::uint64_t id, dev, ino;
    {
        EngineFile f(*set_, path("a"));
        EXPECT_EQ(f.read(0, data.size()), data);
        id = f.state->record.file_id;
        dev = f.state->identity.dev;
        ino = f.state->identity.ino;
    }
    EXPECT_GT(indexed_bytes(*set_, id), 0u);
    ASSERT_EQ(::unlink(path("a").c_str()), 0);
    set_->unlinked(dev, ino, 0);
    EXPECT_EQ(indexed_bytes(*set_, id), 0u);
    auto rec = set_->index().get_file(FileIdentity{dev, ino, 0});
    ASSERT_TRUE(rec);
    EXPECT_FALSE(rec.value().has_value());
}

TEST_F(CacheTest, UnlinkWhileOpenStopsCachingButKeepsReadsCorrect) {
    format_cache(96);
    open_set();
    const std::string data = random_bytes(rng_, 30000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    const std::uint64_t id = f.state->record.file_id;
    ASSERT_EQ(::unlink(path("a").c_str()), 0);
    set_->unlinked(f.state->identity.dev, f.state->identity.ino, 0);
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(indexed_bytes(*set_, id), 0u);
}

TEST_F(CacheTest, TruncateTrimsTheCachedBlocks) {
    format_cache(96);
    open_set();
    std::string data = random_bytes(rng_, 65536);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    const std::uint64_t id = f.state->record.file_id;

    ASSERT_TRUE(set_->truncate(f.state.get(), f.backing.fd(), 10000));
    data.resize(10000);
    EXPECT_LE(indexed_bytes(*set_, id), 8192u);
    EXPECT_EQ(f.read(0, 65536), data);
    // Grown again: the new bytes are zeroes, not the old data.
    ASSERT_TRUE(set_->truncate(f.state.get(), f.backing.fd(), 30000));
    data.resize(30000, '\0');
    EXPECT_EQ(f.read(0, 65536), data);
    EXPECT_EQ(f.read(0, 65536), data);
    EXPECT_EQ(f.state->record.file_id, id) << "our own truncates keep the file id";

    // Truncate of a file that is not open (as truncate(2) through an O_PATH fd).
    write_whole(path("b"), random_bytes(rng_, 20000));
    std::uint64_t idb;
    {
        EngineFile g(*set_, path("b"));
        EXPECT_EQ(g.read(0, 20000).size(), 20000u);
        idb = g.state->record.file_id;
    }
    const int pfd = ::open(path("b").c_str(), O_PATH | O_CLOEXEC);
    ASSERT_GE(pfd, 0);
    ASSERT_TRUE(set_->truncate(nullptr, pfd, 0));
    ::close(pfd);
    EXPECT_EQ(indexed_bytes(*set_, idb), 0u);
    EngineFile g(*set_, path("b"));
    EXPECT_EQ(g.read(0, 20000), "");
}

TEST_F(CacheTest, FallocatePunchInvalidatesTheRange) {
    format_cache(96);
    open_set();
    std::string data = random_bytes(rng_, 65536);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    ASSERT_TRUE(set_->fallocate(*f.state, f.backing.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192, 16384));
    std::fill(data.begin() + 8192, data.begin() + 8192 + 16384, '\0');
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(f.read(0, data.size()), data);
}

}  // namespace
}  // namespace bcl::test
