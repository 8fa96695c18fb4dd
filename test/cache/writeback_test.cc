// Writeback in the engine: dirty data in the cache, read back, written back
// in order, kept across restarts and crashes, and never resurrected by a
// truncate or an unlink.
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <filesystem>
#include <random>
#include <thread>

#include "bcachefs_lite/device/faulty_device.h"
#include "cache_fixture.h"
#include "writeback/writeback.h"

namespace bcl::test {
namespace {

class WritebackTest : public CacheTest {
protected:
    void SetUp() override {
        // Files with dirty data are found again by file handle, which
        // needs CAP_DAC_READ_SEARCH.
        if (::geteuid() != 0) GTEST_SKIP() << "writeback needs root (open_by_handle_at)";
        CacheTest::SetUp();
        ASSERT_TRUE(open_backing_root());
    }
    void TearDown() override {
        file_.reset();
        CacheTest::TearDown();
    }
    // Appends `chunks` random 64 KiB chunks, through file_, to a new file "a"
    // of a 64-bucket cache with these cutoffs; the file's contents.
    std::string append_chunks(unsigned cutoff, unsigned cutoff_sync, int chunks);
    CacheSetOptions wb_options() const {
        CacheSetOptions o = options();
        o.tunables.mode = CacheMode::writeback;
        o.backing_root_fd = root_fd_;
        return o;
    }
    std::uint64_t dirty() const { return set_->stats().dirty_data; }
    bool has_dirty_record(std::uint64_t file_id) const {
        auto r = set_->index().get_dirty_file(file_id);
        EXPECT_TRUE(r);
        return r && r.value().has_value();
    }
    // Runs background handlers until nothing is dirty, at most 20 s.
    bool drain_writeback() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (dirty() != 0) {
            set_->run_background_until_idle();
            if (std::chrono::steady_clock::now() > deadline) return false;
        }
        return true;
    }
    // A child process opens the cache in writeback, writes `data` at
    // `offset` of backing file `name` (then fsyncs it) and is killed with
    // SIGKILL, never closing the cache: a crash.
    void write_and_die(const std::string& name, std::uint64_t offset, const std::string& data, bool fsync) {
        ASSERT_FALSE(set_) << "close the cache first";
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            Logger quiet{LogLevel::error};
            auto set = CacheSet::open(wb_options(), quiet);
            if (!set) ::_exit(2);
            BackingFile b(path(name));
            auto file = set.value()->open_file(b.fd(), b.stx());
            if (!file) ::_exit(3);
            if (!set.value()->write(*file.value(), b.fd(), offset, std::as_bytes(std::span(data.data(), data.size()))))
                ::_exit(4);
            if (fsync && !set.value()->fsync(*file.value(), b.fd(), false)) ::_exit(5);
            ::kill(::getpid(), SIGKILL);
        }
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    }
    void reopen_writeback() {
        ASSERT_TRUE(set_->close());
        set_.reset();
        open_set(wb_options());
    }

    std::unique_ptr<EngineFile> file_;
};

TEST_F(WritebackTest, AWriteStaysInTheCacheUntilWrittenBack) {
    format_cache(96);
    open_set(wb_options());
    const std::string old = random_bytes(rng_, 50000);
    write_whole(path("a"), old);
    std::string data = old;
    {
        EngineFile f(*set_, path("a"));
        const std::string patch = random_bytes(rng_, 20000);
        f.write(8192, patch);
        data.replace(8192, patch.size(), patch);
        const std::string tail = random_bytes(rng_, 30000);
        f.write(data.size(), tail);
        data += tail;

        EXPECT_EQ(f.read(0, data.size() + 10), data);
        // The backing file has the new size and none of the new bytes.
        EXPECT_EQ(f.backing.stx().stx_size, data.size());
        EXPECT_EQ(backing_read(path("a"), 0, old.size()), old);
        EXPECT_EQ(dirty(), 20480u + 32768u);
        EXPECT_EQ(set_->dirty_bytes(f.state->identity.dev, f.state->identity.ino).value(), 20480u + (80000u - 49152u));
        EXPECT_TRUE(has_dirty_record(f.state->record.file_id));
        EXPECT_EQ(set_->stats().bytes_written_dirty, 50000u);

        ASSERT_TRUE(set_->write_back_all());
        EXPECT_EQ(backing_read(path("a"), 0, data.size() + 10), data);
        EXPECT_EQ(dirty(), 0u);
        EXPECT_FALSE(has_dirty_record(f.state->record.file_id));
        EXPECT_EQ(set_->stats().bytes_written_back, 20480u + 32768u);
        // Clean now, and still cached: the next read hits.
        const auto hits = set_->stats().cache_hits;
        EXPECT_EQ(f.read(0, data.size()), data);
        EXPECT_EQ(set_->stats().cache_hits, hits + 1);
    }
}

// A read that cannot look the cache up serves the backing file only where
// no dirty data can be newer: a file with dirty data fails (EIO) instead.
TEST_F(WritebackTest, AFailedIndexLookupNeverServesOlderDataThanTheCacheHolds) {
    format_cache(96);
    bool fail = false;
    CacheSetOptions o = wb_options();
    o.tunables.writeback.writeback_running = false;
    o.hooks.fail_read_lookup = [&](const CachedFile&, std::uint64_t, std::uint64_t) { return fail; };
    open_set(std::move(o));
    const std::string old = random_bytes(rng_, 50000);
    const std::string other = random_bytes(rng_, 30000);
    write_whole(path("a"), old);
    write_whole(path("b"), other);
    EngineFile a(*set_, path("a"));
    EngineFile b(*set_, path("b"));
    std::string data = old;
    const std::string patch = random_bytes(rng_, 20000);
    a.write(8192, patch);
    data.replace(8192, patch.size(), patch);
    ASSERT_NE(dirty(), 0u);

    fail = true;
    std::string buf(data.size(), '\0');
    auto n = set_->read(*a.state, a.backing.fd(), 0, std::as_writable_bytes(std::span(buf.data(), buf.size())));
    ASSERT_FALSE(n) << "served the backing file's older data";
    EXPECT_EQ(n.error().code, Errc::io);
    // Nor a range of it that holds no dirty block: the failed lookup cannot
    // tell where the dirty data is.
    n = set_->read(*a.state, a.backing.fd(), 40960, std::as_writable_bytes(std::span(buf.data(), 4096)));
    EXPECT_FALSE(n);
    // A file without dirty data is still served, from its backing file.
    EXPECT_EQ(b.read(0, other.size()), other);

    fail = false;
    EXPECT_EQ(a.read(0, data.size()), data);
    ASSERT_TRUE(set_->write_back_all());
    ASSERT_FALSE(has_dirty_record(a.state->record.file_id));
    fail = true;
    EXPECT_EQ(a.read(0, data.size()), data) << "written back: the backing file is up to date";
}

TEST_F(WritebackTest, ConcurrentWritersOfOneFileAllLand) {
    // Whole-block writes put their data on the cache device before they
    // take the file's lock; partial ones merge under it. Eight threads,
    // each owning every eighth block, write whole blocks, runs of them and
    // parts of them, twice over.
    format_cache(96);
    open_set(wb_options());
    constexpr std::size_t kBlocks = 64, kThreads = 8;
    const std::string old = random_bytes(rng_, kBlocks * kTestBlockSize);
    write_whole(path("a"), old);
    EngineFile f(*set_, path("a"));
    std::vector<std::string> models(kThreads, old);
    std::vector<std::thread> writers;
    for (std::size_t t = 0; t < kThreads; ++t) {
        writers.emplace_back([&, t] {
            std::mt19937_64 rng(1000 + t);
            std::string& model = models[t];
            for (int round = 0; round < 2; ++round) {
                for (std::size_t b = t; b < kBlocks; b += kThreads) {
                    const std::uint64_t at = b * kTestBlockSize;
                    const std::size_t len = rng() % 3 == 0 ? 1000 : kTestBlockSize;
                    const std::uint64_t off = len == kTestBlockSize ? at : at + rng() % (kTestBlockSize - len);
                    const std::string data = random_bytes(rng, len);
                    f.write(off, data);
                    model.replace(off, data.size(), data);
                }
            }
        });
    }
    for (auto& w : writers) w.join();
    std::string expected = old;
    for (std::size_t b = 0; b < kBlocks; ++b) {
        const std::size_t owner = b % kThreads;
        expected.replace(b * kTestBlockSize, kTestBlockSize, models[owner].substr(b * kTestBlockSize, kTestBlockSize));
    }
    EXPECT_TRUE(f.read(0, expected.size()) == expected);
    EXPECT_GT(set_->stats().bytes_written_dirty, 0u);
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_TRUE(backing_read(path("a"), 0, expected.size()) == expected);
    EXPECT_EQ(dirty(), 0u);
}

TEST_F(WritebackTest, UnalignedWritesKeepTheRestOfTheirBlocks) {
    format_cache(96);
    open_set(wb_options());
    std::string data = random_bytes(rng_, 10000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    for (int i = 0; i < 200; ++i) {
        const std::uint64_t off = rng_() % 12000;
        const std::string patch = random_bytes(rng_, 1 + rng_() % 3000);
        f.write(off, patch);
        if (data.size() < off) data.resize(off, '\0');
        data.replace(off, std::min(patch.size(), data.size() - off), patch);
        if (data.size() < off + patch.size()) data.replace(off, data.size() - off, patch);
        ASSERT_EQ(f.read(0, 20000), data) << "after write " << i;
        set_->run_background_until_idle();
    }
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(backing_read(path("a"), 0, 20000), data);
}

TEST_F(WritebackTest, DirtyDataSurvivesACleanRestartAndACrash) {
    format_cache(96);
    open_set(wb_options());
    const std::string data = random_bytes(rng_, 100000);
    write_whole(path("a"), std::string(100000, 'x'));
    {
        EngineFile f(*set_, path("a"));
        f.write(0, data);
    }
    reopen_writeback();
    EXPECT_EQ(dirty(), 102400u);  // whole blocks
    {
        EngineFile f(*set_, path("a"));
        EXPECT_EQ(f.read(0, data.size()), data);
    }
    // A process that writes and dies without closing the cache.
    const std::string more = random_bytes(rng_, 40000);
    ASSERT_TRUE(set_->close());
    set_.reset();
    write_and_die("a", 200000, more, /*fsync=*/true);
    open_set(wb_options());
    EXPECT_FALSE(set_->opened_clean());
    std::string expect = data + std::string(100000, '\0') + more;
    {
        EngineFile f(*set_, path("a"));
        EXPECT_EQ(f.read(0, expect.size() + 10), expect);
    }
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(backing_read(path("a"), 0, expect.size() + 10), expect);
    EXPECT_EQ(dirty(), 0u);
}

// Dirty data whose index entry became durable before the data did (a power
// loss) fails its checksum at the next mount and is dropped, never served.
TEST_F(WritebackTest, AfterAnUncleanShutdownDirtyDataThatFailsItsChecksumIsDropped) {
    format_cache(96);
    write_whole(path("a"), std::string(8192, 'b'));
    write_and_die("a", 0, std::string(8192, 'd'), /*fsync=*/false);
    {
        // What a power loss leaves: the entry, but not the data it points at.
        auto index = Index::open(index_dir_, IndexOptions{});
        ASSERT_TRUE(index) << index.error().message;
        const struct statx stx = BackingFile(path("a")).stx();
        auto rec = index.value()->get_file(FileIdentity{makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino, 0});
        ASSERT_TRUE(rec && rec.value());
        auto extents = index.value()->lookup(rec.value()->file_id, 0, UINT64_MAX);
        ASSERT_TRUE(extents);
        ASSERT_FALSE(extents.value().empty());
        const int fd = ::open(cache_path_.c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        const std::string junk(4096, 'j');
        const Extent& e = extents.value().front();
        ASSERT_TRUE(e.value.dirty());
        ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), static_cast<off_t>(e.value.sector * kSectorSize)), 4096);
        ::close(fd);
    }
    open_set(wb_options());
    // The extent's checksum covers both blocks: all of it goes.
    EXPECT_EQ(dirty(), 0u);
    EngineFile f(*set_, path("a"));
    EXPECT_TRUE(f.read(0, 8192) == std::string(8192, 'b'));
}

// Power loss under a live cache: every write the cache device had not
// flushed is undone (FaultyDevice::crash()) and the process dies without
// closing. What fsync acknowledged survives; the write that was never
// synced is found whole or not at all (the first GC pass checks the
// checksums of dirty data), never as garbage.
TEST_F(WritebackTest, APowerLossKeepsWhatFsyncAcknowledgedAndServesNoGarbage) {
    format_cache(96);
    write_whole(path("a"), std::string(200000, 'b'));
    const std::string synced = random_bytes(rng_, 65536);
    const std::string unsynced = random_bytes(rng_, 65536);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        Logger quiet{LogLevel::error};
        FaultyDevice* dev = nullptr;
        // Manual background: nothing flushes behind the test's back.
        const auto set = open_faulty_in_child(wb_options(), dev, quiet);
        BackingFile b(path("a"));
        auto file = set->open_file(b.fd(), b.stx());
        if (!file) ::_exit(4);
        if (!set->write(*file.value(), b.fd(), 0, std::as_bytes(std::span(synced))) ||
            !set->fsync(*file.value(), b.fd(), false))
            ::_exit(5);
        if (!set->write(*file.value(), b.fd(), 100000, std::as_bytes(std::span(unsynced)))) ::_exit(6);
        if (dev->unflushed_writes() == 0) ::_exit(7);
        if (!dev->crash()) ::_exit(8);
        ::_exit(0);  // no close: the index keeps what it wrote, the device lost what it had not flushed
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed at step " << WEXITSTATUS(status);

    open_set(wb_options());
    EXPECT_FALSE(set_->opened_clean());
    {
        EngineFile f(*set_, path("a"));
        EXPECT_TRUE(f.read(0, synced.size()) == synced) << "fsync acknowledged this write";
        const std::string second = f.read(100000, unsynced.size());
        EXPECT_TRUE(second == unsynced || second == std::string(unsynced.size(), 'b')) << "garbage after a power loss";
    }
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_TRUE(backing_read(path("a"), 0, synced.size()) == synced);
}

TEST_F(WritebackTest, TruncatedAwayDirtyDataNeverReappears) {
    format_cache(96);
    open_set(wb_options());
    write_whole(path("a"), "");
    EngineFile f(*set_, path("a"));
    const std::string data = random_bytes(rng_, 20000);
    f.write(0, data);
    ASSERT_TRUE(set_->truncate(f.state.get(), f.backing.fd(), 5000));
    ASSERT_TRUE(set_->truncate(f.state.get(), f.backing.fd(), 20000));
    const std::string expect = data.substr(0, 5000) + std::string(15000, '\0');
    EXPECT_EQ(f.read(0, 30000), expect);
    EXPECT_LE(dirty(), 4096u);
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(backing_read(path("a"), 0, 30000), expect);
    EXPECT_EQ(f.read(0, 30000), expect);
}

TEST_F(WritebackTest, AnUnlinkedFilesDirtyDataIsNeverWrittenBack) {
    format_cache(96);
    open_set(wb_options());
    write_whole(path("a"), "");
    struct statx stx {};
    {
        EngineFile f(*set_, path("a"));
        f.write(0, random_bytes(rng_, 30000));
        stx = f.backing.stx();
    }
    ASSERT_GT(dirty(), 0u);
    ASSERT_EQ(::unlink(path("a").c_str()), 0);
    set_->unlinked(makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino, 0);
    EXPECT_EQ(dirty(), 0u);
    write_whole(path("b"), "b");
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(backing_read(path("b"), 0, 10), "b");
    EXPECT_FALSE(std::filesystem::exists(path("a")));
}

TEST_F(WritebackTest, DirtyDataFollowsARename) {
    format_cache(96);
    open_set(wb_options());
    write_whole(path("a"), "");
    const std::string data = random_bytes(rng_, 12345);
    {
        EngineFile f(*set_, path("a"));
        f.write(0, data);
    }
    const struct statx before = BackingFile(path("a")).stx();
    ASSERT_EQ(::rename(path("a").c_str(), path("b").c_str()), 0);
    const struct statx after = BackingFile(path("b")).stx();
    ASSERT_TRUE(set_->metadata_changed(before, after));
    reopen_writeback();
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(backing_read(path("b"), 0, 20000), data);
}

TEST_F(WritebackTest, AChangeBehindTheBackKeepsDirtyDataAndDropsCleanData) {
    format_cache(96);
    open_set(wb_options());
    write_whole(path("a"), std::string(16384, 'a'));
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, 16384), std::string(16384, 'a'));  // cached clean
    f.write(0, std::string(4096, 'd'));                    // dirty
    {
        const int fd = ::open(path("a").c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_TRUE(clock_past(f.backing.stx().stx_mtime));
        ASSERT_EQ(::pwrite(fd, "zzzz", 4, 8192), 4);
        ::close(fd);
    }
    std::string expect = std::string(4096, 'd') + std::string(4096, 'a') + "zzzz" + std::string(8188, 'a');
    EXPECT_EQ(f.read(0, 16384), expect);
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(backing_read(path("a"), 0, 16384), expect);
}

TEST_F(WritebackTest, LeavingWritebackKeepsDirtyDataAndUnalignedDirectWritesMergeWithIt) {
    format_cache(96);
    open_set(wb_options());
    write_whole(path("a"), std::string(8192, '.'));
    EngineFile f(*set_, path("a"));
    f.write(0, std::string(8192, 'd'));
    ASSERT_TRUE(set_->set_mode(CacheMode::writethrough));
    EXPECT_GT(dirty(), 0u);
    f.write(100, "through");
    std::string expect = std::string(8192, 'd');
    expect.replace(100, 7, "through");
    EXPECT_EQ(f.read(0, 8192), expect);
    EXPECT_EQ(backing_read(path("a"), 0, 8192).substr(0, 4096), expect.substr(0, 4096));
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(backing_read(path("a"), 0, 8192), expect);
    ASSERT_TRUE(set_->set_mode(CacheMode::none));
    f.write(8000, "none");
    expect.replace(8000, 4, "none");
    EXPECT_EQ(backing_read(path("a"), 0, 8192), expect);
    EXPECT_EQ(f.read(0, 8192), expect);
}

std::string WritebackTest::append_chunks(unsigned cutoff, unsigned cutoff_sync, int chunks) {
    format_cache(64);
    CacheSetOptions o = wb_options();
    o.tunables.writeback.cutoff_writeback = cutoff;
    o.tunables.writeback.cutoff_writeback_sync = cutoff_sync;
    open_set(std::move(o));
    write_whole(path("a"), "");
    file_ = std::make_unique<EngineFile>(*set_, path("a"));
    std::string data;
    for (int i = 0; i < chunks; ++i) {
        const std::string chunk = random_bytes(rng_, 65536);
        file_->write(data.size(), chunk);
        data += chunk;
        set_->run_background_until_idle();
    }
    return data;
}

TEST_F(WritebackTest, WritesOverTheCutoffOrWithoutSpaceGoToTheBackingFile) {
    const std::string data = append_chunks(10, 20, 40);
    EXPECT_EQ(file_->read(0, data.size()), data);
    const CacheStats s = set_->stats();
    EXPECT_GT(s.writes_direct, 0u);
    EXPECT_LE(s.dirty_data * 100 / (64ull * kTestBucketSize), 20u);
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(backing_read(path("a"), 0, data.size()), data);
}

TEST_F(WritebackTest, ACacheFullOfDirtyDataNeverFailsAWrite) {
    const std::string data = append_chunks(100, 100, 80);
    EXPECT_GT(set_->stats().writes_direct, 0u) << format_stats(set_->stats());
    EXPECT_EQ(file_->read(0, data.size()), data);
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(backing_read(path("a"), 0, data.size()), data);
}

TEST_F(WritebackTest, FsyncFlushesTheCacheDevice) {
    format_cache(96);
    open_set(wb_options());
    write_whole(path("a"), "");
    EngineFile f(*set_, path("a"));
    f.write(0, random_bytes(rng_, 4096));
    const auto flushes = set_->device().device().stats().calls_of(IoKind::flush);
    ASSERT_TRUE(set_->fsync(*f.state, f.backing.fd(), false));
    EXPECT_GT(set_->device().device().stats().calls_of(IoKind::flush), flushes);
}

TEST_F(WritebackTest, TheWritebackTaskWritesEverythingBackOnItsOwn) {
    format_cache(96);
    CacheSetOptions o = wb_options();
    o.tunables.writeback.writeback_delay = std::chrono::seconds(0);
    o.tunables.writeback.writeback_percent = 0;
    o.tunables.writeback.writeback_rate_minimum = kWritebackRateMax;
    open_set(std::move(o));
    std::vector<std::string> contents;
    for (int i = 0; i < 5; ++i) {
        write_whole(path("f" + std::to_string(i)), "");
        EngineFile f(*set_, path("f" + std::to_string(i)));
        contents.push_back(random_bytes(rng_, 30000 + i * 1000));
        f.write(0, contents.back());
    }
    ASSERT_TRUE(drain_writeback());
    for (int i = 0; i < 5; ++i) EXPECT_EQ(backing_read(path("f" + std::to_string(i)), 0, 40000), contents[i]);
}

TEST_F(WritebackTest, StoppedWritebackRunsOnlyForAFlush) {
    format_cache(96);
    CacheSetOptions o = wb_options();
    o.tunables.writeback.writeback_delay = std::chrono::seconds(0);
    o.tunables.writeback.writeback_running = false;
    open_set(std::move(o));
    write_whole(path("a"), "");
    {
        EngineFile f(*set_, path("a"));
        f.write(0, random_bytes(rng_, 8192));
    }
    set_->run_background_until_idle();
    EXPECT_EQ(dirty(), 8192u);
    set_->start_flush();
    EXPECT_TRUE(set_->writeback_status().flushing);
    ASSERT_TRUE(drain_writeback());
    set_->run_background_until_idle();
    EXPECT_FALSE(set_->writeback_status().flushing);
}

TEST_F(WritebackTest, BadTunablesAreRefusedAndChangeNothing) {
    format_cache(96);
    open_set(wb_options());
    WritebackTunables t = set_->writeback().tunables();
    WritebackTunables bad = t;
    bad.writeback_percent = 41;
    EXPECT_FALSE(set_->writeback().set_tunables(bad));
    bad = t;
    bad.cutoff_writeback_sync = t.cutoff_writeback - 1;
    EXPECT_FALSE(set_->writeback().set_tunables(bad));
    EXPECT_EQ(set_->writeback().tunables(), t);
}

TEST_F(CacheTest, WritebackNeedsTheBackingDirectory) {
    format_cache(96);
    CacheSetOptions o = options();
    o.tunables.mode = CacheMode::writeback;
    auto set = CacheSet::open(std::move(o), log_);
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().code, Errc::unsupported);
    open_set();
    EXPECT_EQ(set_->set_mode(CacheMode::writeback).error().code, Errc::unsupported);
    EXPECT_EQ(set_->mode(), CacheMode::writethrough);
}

}  // namespace
}  // namespace bcl::test
