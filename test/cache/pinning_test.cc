// Pinning: a pinned file's data is fetched into the cache in the
// background, stays there whatever else fills the cache, survives a
// restart, is refetched after a change behind the cache's back, and stops
// being pinned when unpinned; the pin limit refuses what would not fit.
// At open, pinned files come back into the cache and unfinished directory
// walks are redone without anything being opened; a pin outlives a crash.
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "bcachefs_lite/device/faulty_device.h"
#include "cache_fixture.h"
#include "files/file_table.h"

namespace bcl::test {
namespace {

class PinningTest : public CacheTest {
protected:
    static constexpr std::uint64_t kBuckets = 80;

    void SetUp() override {
        CacheTest::SetUp();
        format_cache(kBuckets);
        ASSERT_TRUE(open_backing_root());
    }
    void TearDown() override {
        set_.reset();
        CacheTest::TearDown();
    }
    CacheSetOptions pin_options() const {
        CacheSetOptions o = options();
        o.pin_fetch_step_bytes = 64 << 10;
        // File handles are resolved against it: pins are resumed at open.
        o.backing_root_fd = root_fd_;
        return o;
    }
    void open_pinning_set() { open_set(pin_options()); }
    void reopen_pinning_set() {
        ASSERT_TRUE(set_->close());
        set_.reset();
        open_set(pin_options());
    }

    // Pins are found again at open by file handle (open_by_handle_at),
    // which needs CAP_DAC_READ_SEARCH.
    static bool handles_work() { return ::geteuid() == 0; }
    static constexpr const char* kNoHandles = "resuming pins at open needs root (open_by_handle_at)";

    static std::uint64_t dev_of(const struct statx& s) { return makedev(s.stx_dev_major, s.stx_dev_minor); }
    // Whether the index holds a pinned-file record (a file handle) for the
    // inode st described.
    bool has_pin_record(const struct statx& s) {
        auto r = set_->index().next_pinned_file(dev_of(s), s.stx_ino);
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        return r && r.value() && r.value()->dev == dev_of(s) && r.value()->ino == s.stx_ino && r.value()->record &&
               r.value()->record->btime_ns == identity_of(s).btime_ns;
    }
    // Runs background handlers until none is left.
    void drive_background() {
        while (set_->run_background_until_idle() != 0) {
        }
    }

    std::uint64_t pinned_bytes_of(const std::string& p) {
        const struct statx s = stat_path(p);
        auto n = set_->pins().pinned_bytes(dev_of(s), s.stx_ino);
        EXPECT_TRUE(n) << (n ? "" : n.error().message);
        return n ? n.value() : 0;
    }
    // Writes `size` random bytes to `name` in the backing directory, pins
    // it and runs the background until it is fetched whole.
    void pin_and_fetch(const std::string& name, std::size_t size) {
        write_whole(name, random_bytes(rng_, size));
        ASSERT_TRUE(pin(name, true));
        set_->run_background_until_idle();
        ASSERT_EQ(pinned_bytes_of(name), size);
    }
    bool is_pinned(const std::string& p) {
        auto r = set_->pins().pinned(stat_path(p));
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        return r && r.value();
    }
};

TEST_F(PinningTest, APinnedFileIsFetchedStepByStepAndThenEveryReadHits) {
    open_pinning_set();
    const std::size_t size = 300000;
    const std::string name = path("pinned");
    write_whole(name, random_bytes(rng_, size));
    ASSERT_TRUE(pin(name, true));
    EXPECT_TRUE(is_pinned(name));
    EXPECT_EQ(pinned_bytes_of(name), 0u) << "fetched in the background, not by the pin";
    // One handler: one step of at most pin_fetch_step_bytes.
    std::size_t steps = 0;
    while (set_->run_background_until_idle() != 0) ++steps;
    EXPECT_GE(steps, 1u);
    EXPECT_EQ(pinned_bytes_of(name), size);
    EXPECT_GE(set_->stats().pinned_bytes, size);

    const CacheStats before = set_->stats();
    EngineFile f(*set_, name);
    EXPECT_EQ(f.read_chunked(0, size), backing_read(name, 0, size));
    const CacheStats after = set_->stats();
    EXPECT_EQ(after.bytes_read_backing, before.bytes_read_backing);
    EXPECT_EQ(after.cache_misses, before.cache_misses);
    ASSERT_TRUE(set_->run_gc());
    auto prio = set_->priority_stats();
    ASSERT_TRUE(prio);
    EXPECT_GE(prio.value().pinned, size / kTestBucketSize);
}

TEST_F(PinningTest, PinnedDataOutlivesAFillOfTheCacheThreeTimesOver) {
    open_pinning_set();
    const std::size_t size = 1 << 20;
    const std::string name = path("pinned");
    ASSERT_NO_FATAL_FAILURE(pin_and_fetch(name, size));

    fill_with_other_files(kBuckets);
    EXPECT_GT(set_->alloc().device(0).stats().invalidated, kBuckets) << "the cache was reused";
    const CacheStats before = set_->stats();
    EngineFile f(*set_, name);
    EXPECT_EQ(f.read_chunked(0, size), backing_read(name, 0, size));
    EXPECT_EQ(set_->stats().bytes_read_backing, before.bytes_read_backing) << "every read of the pinned file hits";
    auto report = set_->check_consistency();
    ASSERT_TRUE(report);
    EXPECT_EQ(report.value().problems, std::vector<std::string>{});
}

TEST_F(PinningTest, APinAndItsDataSurviveAReopen) {
    open_pinning_set();
    const std::size_t size = 200000;
    const std::string name = path("pinned");
    write_whole(name, random_bytes(rng_, size));
    ASSERT_TRUE(pin(name, true));
    set_->run_background_until_idle();
    reopen_pinning_set();
    EXPECT_TRUE(is_pinned(name));
    EXPECT_EQ(pinned_bytes_of(name), size);
    EXPECT_GE(set_->stats().pinned_bytes, size) << "counted by the first GC pass";
    fill_with_other_files(kBuckets);
    const CacheStats before = set_->stats();
    EngineFile f(*set_, name);
    EXPECT_EQ(f.read_chunked(0, size), backing_read(name, 0, size));
    EXPECT_EQ(set_->stats().bytes_read_backing, before.bytes_read_backing);
}

TEST_F(PinningTest, AnUnpinnedFileBecomesReclaimable) {
    open_pinning_set();
    const std::size_t size = 1 << 20;
    const std::string name = path("pinned");
    ASSERT_NO_FATAL_FAILURE(pin_and_fetch(name, size));
    ASSERT_TRUE(pin(name, false));
    EXPECT_FALSE(is_pinned(name));
    EXPECT_EQ(pinned_bytes_of(name), 0u);
    EXPECT_EQ(set_->stats().pinned_bytes, 0u);
    ASSERT_TRUE(set_->run_gc());
    auto prio = set_->priority_stats();
    ASSERT_TRUE(prio);
    EXPECT_EQ(prio.value().pinned, 0u);

    fill_with_other_files(kBuckets);
    const CacheStats before = set_->stats();
    EngineFile f(*set_, name);
    EXPECT_EQ(f.read_chunked(0, size), backing_read(name, 0, size));
    EXPECT_GT(set_->stats().bytes_read_backing, before.bytes_read_backing) << "the unpinned data was reclaimed";
}

TEST_F(PinningTest, PinningPastTheLimitFailsWithNoSpaceAndChangesNothing) {
    CacheSetOptions o = pin_options();
    o.tunables.pin_limit_percent = 20;  // 1 MiB of the 5 MiB cache
    open_set(std::move(o));
    const std::string small = path("small"), big = path("big");
    write_whole(small, random_bytes(rng_, 600 << 10));
    write_whole(big, random_bytes(rng_, 600 << 10));
    ASSERT_TRUE(pin(small, true));
    set_->run_background_until_idle();
    ASSERT_EQ(pinned_bytes_of(small), 600u << 10);
    const Status refused = pin(big, true);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::no_space);
    EXPECT_FALSE(is_pinned(big));
    set_->run_background_until_idle();
    EXPECT_EQ(pinned_bytes_of(big), 0u);

    EXPECT_FALSE(set_->pins().set_pin_limit_percent(101));
    EXPECT_EQ(set_->pins().pin_limit_percent(), 20u);
    ASSERT_TRUE(set_->pins().set_pin_limit_percent(50));
    ASSERT_TRUE(pin(big, true));
    set_->run_background_until_idle();
    EXPECT_EQ(pinned_bytes_of(big), 600u << 10);
}

TEST_F(PinningTest, AnOpenWithAnImpossibleLimitIsRefused) {
    CacheSetOptions o = pin_options();
    o.tunables.pin_limit_percent = 101;
    auto set = CacheSet::open(std::move(o), log_);
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().code, Errc::invalid);
}

TEST_F(PinningTest, AChangeBehindTheCachesBackIsFetchedAgainNeverStale) {
    open_pinning_set();
    const std::size_t size = 200000;
    const std::string name = path("pinned");
    ASSERT_NO_FATAL_FAILURE(pin_and_fetch(name, size));

    const struct statx old = stat_path(name);
    ASSERT_TRUE(clock_past(old.stx_mtime));
    const std::string changed = random_bytes(rng_, size + 5000);
    {
        const int fd = ::open(name.c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pwrite(fd, changed.data(), changed.size(), 0), static_cast<ssize_t>(changed.size()));
        ::close(fd);
    }
    EngineFile f(*set_, name);  // the open sees the change and fetches again
    EXPECT_TRUE(is_pinned(name));
    set_->run_background_until_idle();
    EXPECT_EQ(pinned_bytes_of(name), changed.size());
    EXPECT_LE(set_->stats().pinned_bytes, (changed.size() + kTestBlockSize - 1) / kTestBlockSize * kTestBlockSize)
        << "the old data is counted no more";
    const CacheStats before = set_->stats();
    EXPECT_EQ(f.read_chunked(0, changed.size()), changed);
    EXPECT_EQ(set_->stats().bytes_read_backing, before.bytes_read_backing);
}

TEST_F(PinningTest, APinnedDirectoryPinsWhatItHoldsWithoutFollowingSymlinks) {
    open_pinning_set();
    const std::string dir = path("d"), sub = path("d/sub"), outside = path("outside");
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
    write_whole(dir + "/a", random_bytes(rng_, 100000));
    write_whole(sub + "/b", random_bytes(rng_, 50000));
    write_whole(outside, random_bytes(rng_, 70000));
    ASSERT_EQ(::symlink(outside.c_str(), (dir + "/link").c_str()), 0);
    ASSERT_TRUE(pin(dir, true));
    EXPECT_TRUE(is_pinned(dir));
    set_->run_background_until_idle();
    EXPECT_TRUE(is_pinned(sub));
    EXPECT_TRUE(is_pinned(dir + "/a"));
    EXPECT_TRUE(is_pinned(sub + "/b"));
    EXPECT_FALSE(is_pinned(outside)) << "a symlink is not followed";
    EXPECT_EQ(pinned_bytes_of(dir + "/a"), 100000u);
    EXPECT_EQ(pinned_bytes_of(sub + "/b"), 50000u);

    reopen_pinning_set();
    EXPECT_TRUE(is_pinned(dir)) << "recorded in the index";
    ASSERT_TRUE(pin(dir, false));
    set_->run_background_until_idle();
    EXPECT_FALSE(is_pinned(dir));
    EXPECT_FALSE(is_pinned(sub + "/b"));
    EXPECT_EQ(pinned_bytes_of(dir + "/a"), 0u);
}

TEST_F(PinningTest, AFetchCutShortByACloseResumesAtOpenWithoutTheFileBeingOpened) {
    if (!handles_work()) GTEST_SKIP() << kNoHandles;
    open_pinning_set();
    const std::size_t size = 1 << 20;
    const std::string name = path("pinned");
    const std::string data = random_bytes(rng_, size);
    write_whole(name, data);
    ASSERT_TRUE(pin(name, true));
    // Closed before the fetch's first step: the close drops the job.
    EXPECT_EQ(pinned_bytes_of(name), 0u);
    EXPECT_TRUE(has_pin_record(stat_path(name)));

    reopen_pinning_set();
    const std::uint64_t misses = set_->stats().cache_misses;
    drive_background();
    EXPECT_TRUE(is_pinned(name));
    EXPECT_EQ(pinned_bytes_of(name), size);
    EXPECT_EQ(set_->stats().cache_misses, misses) << "fetched by the background, not by a read";
    const CacheStats before = set_->stats();
    EngineFile f(*set_, name);
    EXPECT_EQ(f.read_chunked(0, size), data);
    EXPECT_EQ(set_->stats().bytes_read_backing, before.bytes_read_backing) << "every read hits";
}

TEST_F(PinningTest, UnpinningDeletesThePinRecord) {
    if (!handles_work()) GTEST_SKIP() << kNoHandles;
    open_pinning_set();
    const std::string name = path("pinned");
    write_whole(name, random_bytes(rng_, 50000));
    ASSERT_TRUE(pin(name, true));
    drive_background();
    EXPECT_TRUE(has_pin_record(stat_path(name)));
    ASSERT_TRUE(pin(name, false));
    EXPECT_FALSE(has_pin_record(stat_path(name)));
}

TEST_F(PinningTest, AnUnlinkDeletesThePinRecord) {
    if (!handles_work()) GTEST_SKIP() << kNoHandles;
    open_pinning_set();
    const std::string name = path("pinned");
    write_whole(name, random_bytes(rng_, 50000));
    ASSERT_TRUE(pin(name, true));
    drive_background();
    const struct statx s = stat_path(name);
    ASSERT_TRUE(has_pin_record(s));
    ASSERT_EQ(::unlink(name.c_str()), 0);
    set_->unlinked(dev_of(s), s.stx_ino, 0);
    EXPECT_FALSE(has_pin_record(s));
}

TEST_F(PinningTest, APinnedFileDeletedWhileClosedLosesItsRecordAtOpenAndNothingElseHappens) {
    if (!handles_work()) GTEST_SKIP() << kNoHandles;
    open_pinning_set();
    const std::string gone = path("gone"), kept = path("kept");
    write_whole(gone, random_bytes(rng_, 100000));
    write_whole(kept, random_bytes(rng_, 100000));
    ASSERT_TRUE(pin(gone, true));
    ASSERT_TRUE(pin(kept, true));
    drive_background();
    const struct statx gone_stx = stat_path(gone), kept_stx = stat_path(kept);
    ASSERT_TRUE(set_->close());
    set_.reset();
    ASSERT_EQ(::unlink(gone.c_str()), 0);

    open_set(pin_options());
    ASSERT_TRUE(has_pin_record(gone_stx)) << "dropped by the background pass, not by the open";
    const CacheStats before = set_->stats();
    drive_background();
    EXPECT_FALSE(has_pin_record(gone_stx));
    EXPECT_TRUE(has_pin_record(kept_stx));
    EXPECT_TRUE(is_pinned(kept));
    EXPECT_EQ(pinned_bytes_of(kept), 100000u);
    const CacheStats after = set_->stats();
    EXPECT_EQ(after.bytes_read_backing, before.bytes_read_backing) << "the kept file's data was all there";
    EXPECT_EQ(after.pinned_bytes, before.pinned_bytes);
}

TEST_F(PinningTest, AWalkCutShortByACloseIsRedoneAtOpen) {
    if (!handles_work()) GTEST_SKIP() << kNoHandles;
    open_pinning_set();
    const std::string dir = path("d"), sub = path("d/sub");
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
    write_whole(dir + "/a", random_bytes(rng_, 100000));
    write_whole(sub + "/b", random_bytes(rng_, 50000));
    ASSERT_TRUE(pin(dir, true));
    EXPECT_TRUE(has_pin_record(stat_path(dir))) << "the walk is pending";
    reopen_pinning_set();  // before any step of the walk
    EXPECT_FALSE(is_pinned(dir + "/a"));
    drive_background();
    EXPECT_TRUE(is_pinned(dir + "/a"));
    EXPECT_TRUE(is_pinned(sub + "/b"));
    EXPECT_EQ(pinned_bytes_of(dir + "/a"), 100000u);
    EXPECT_EQ(pinned_bytes_of(sub + "/b"), 50000u);
    EXPECT_FALSE(has_pin_record(stat_path(dir))) << "a completed walk leaves no record";
    EXPECT_FALSE(has_pin_record(stat_path(sub)));

    // An unpin walk cut short is redone as an unpin.
    ASSERT_TRUE(pin(dir, false));
    reopen_pinning_set();
    drive_background();
    EXPECT_FALSE(is_pinned(dir + "/a"));
    EXPECT_FALSE(is_pinned(sub + "/b"));
    EXPECT_FALSE(has_pin_record(stat_path(dir + "/a")));
    EXPECT_FALSE(has_pin_record(stat_path(dir)));
}

// Power loss right after a pin returns: everything the cache device had not
// flushed is undone and the process dies without closing. The pin was
// synced (which flushes the cache device first), so it is there at the next
// open, and its data is fetched without the file being opened.
TEST_F(PinningTest, APinOutlivesAPowerLossRightAfterItReturns) {
    if (!handles_work()) GTEST_SKIP() << kNoHandles;
    const std::size_t size = 200000;
    const std::string name = path("pinned"), other = path("other");
    write_whole(name, random_bytes(rng_, size));
    write_whole(other, random_bytes(rng_, 100000));
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        Logger quiet{LogLevel::error};
        FaultyDevice* dev = nullptr;
        // Manual background: nothing flushes behind the test's back.
        const auto set = open_faulty_in_child(pin_options(), dev, quiet);
        {
            BackingFile b(other);
            auto file = set->open_file(b.fd(), b.stx());
            if (!file) ::_exit(4);
            std::string buf(100000, '\0');
            if (!set->read(*file.value(), b.fd(), 0, std::as_writable_bytes(std::span(buf)))) ::_exit(5);
            set->release_file(file.value());
        }
        if (dev->unflushed_writes() == 0) ::_exit(6);  // the miss insert left writes unflushed
        const int fd = ::open(name.c_str(), O_PATH | O_CLOEXEC);
        struct statx s {};
        if (fd < 0 || ::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &s) != 0) ::_exit(7);
        if (!set->pins().set_pinned(fd, s, true)) ::_exit(8);
        if (dev->unflushed_writes() != 0) ::_exit(9);  // the synced pin flushed the device first
        if (!dev->crash()) ::_exit(10);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed at step " << WEXITSTATUS(status);

    open_pinning_set();
    EXPECT_FALSE(set_->opened_clean());
    EXPECT_TRUE(is_pinned(name));
    drive_background();
    EXPECT_EQ(pinned_bytes_of(name), size);
}

TEST_F(PinningTest, OnlyRegularFilesAndDirectoriesArePinned) {
    open_pinning_set();
    const std::string fifo = path("fifo");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
    const Status st = pin(fifo, true);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::invalid);
}

}  // namespace
}  // namespace bcl::test
