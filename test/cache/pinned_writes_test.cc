// Writes to a pinned file in writeback mode: the dirty data goes to pinned
// buckets, stays pinned once written back and outlives fills of the cache;
// pinned_bytes follows overwrites; an unpin makes it reclaimable without
// losing what is still dirty; the pin limit holds for dirty writes too.
// Writethrough writes to a pinned file are cached pinned as well.
#include <sys/sysmacros.h>

#include "cache_fixture.h"
#include "writeback/writeback.h"
#include "files/file_table.h"

namespace bcl::test {
namespace {

class PinnedWritesTest : public CacheTest {
protected:
    static constexpr std::uint64_t kBuckets = 80;  // 5 MiB
    static constexpr std::size_t kChunk = 64 << 10;

    void SetUp() override {
        // Files with dirty data are found again by file handle, which
        // needs CAP_DAC_READ_SEARCH.
        if (::geteuid() != 0) GTEST_SKIP() << "writeback needs root (open_by_handle_at)";
        CacheTest::SetUp();
        format_cache(kBuckets);
        ASSERT_TRUE(open_backing_root());
    }
    void TearDown() override {
        file_.reset();
        set_.reset();
        CacheTest::TearDown();
    }
    // Writeback held back until drain_writeback(), which then writes
    // everything back as fast as the background runs.
    CacheSetOptions wb_options() const {
        CacheSetOptions o = options();
        o.tunables.mode = CacheMode::writeback;
        o.backing_root_fd = root_fd_;
        o.tunables.writeback.writeback_running = false;
        o.tunables.writeback.writeback_delay = std::chrono::seconds(0);
        o.tunables.writeback.writeback_percent = 0;
        o.tunables.writeback.writeback_rate_minimum = kWritebackRateMax;
        return o;
    }

    // The bytes of `p`'s extents for which `keep` holds.
    std::uint64_t bytes_of(const std::string& p, bool (*keep)(const ExtentValue&)) {
        const struct statx s = stat_path(p);
        auto file = set_->index().get_file(identity_of(s));
        EXPECT_TRUE(file);
        if (!file || !file.value()) return 0;
        auto extents = set_->index().lookup(file.value()->file_id, 0, UINT64_MAX);
        EXPECT_TRUE(extents);
        std::uint64_t n = 0;
        for (const Extent& e : extents ? extents.value() : std::vector<Extent>{})
            if (keep(e.value)) n += e.value.length;
        return n;
    }
    std::uint64_t pinned_dirty_of(const std::string& p) {
        return bytes_of(p, [](const ExtentValue& v) { return v.pinned() && v.dirty(); });
    }
    std::uint64_t pinned_clean_of(const std::string& p) {
        return bytes_of(p, [](const ExtentValue& v) { return v.pinned() && !v.dirty(); });
    }
    std::uint64_t unpinned_dirty_of(const std::string& p) {
        return bytes_of(p, [](const ExtentValue& v) { return !v.pinned() && v.dirty(); });
    }
    std::uint64_t dirty() const { return set_->stats().dirty_data; }
    // Runs background handlers until nothing is dirty, at most 20 s.
    bool drain_writeback() {
        WritebackTunables t = set_->writeback().tunables();
        t.writeback_running = true;
        EXPECT_TRUE(set_->writeback().set_tunables(t));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (dirty() != 0) {
            set_->run_background_until_idle();
            if (std::chrono::steady_clock::now() > deadline) return false;
        }
        return true;
    }
    // A new empty file "f", pinned or not, open in file_.
    void create(bool pinned) {
        write_whole(path("f"), "");
        if (pinned) {
            ASSERT_TRUE(pin(path("f"), true));
        }
        file_ = std::make_unique<EngineFile>(*set_, path("f"));
        set_->run_background_until_idle();  // the pin's fetch: nothing to fetch yet
    }
    // Writes `data` through file_ in whole-block chunks: dirty writes. The
    // background runs between them (a write never waits for a bucket, and
    // the freelists of a small cache are short).
    void write_chunks(const std::string& data, std::uint64_t offset = 0) {
        for (std::size_t off = 0; off < data.size(); off += kChunk) {
            file_->write(offset + off, data.substr(off, kChunk));
            set_->run_background_until_idle();
        }
    }
    void expect_consistent() {
        auto report = set_->check_consistency();
        ASSERT_TRUE(report) << report.error().message;
        EXPECT_EQ(report.value().problems, std::vector<std::string>{});
    }
    // Writes 1 MiB dirty to "f" (pinned or not), writes it back, fills the
    // cache three times over and reads "f" again: the bytes that read took
    // from the backing file.
    std::uint64_t backing_bytes_after_write_back_and_fill(bool pinned) {
        const std::size_t size = 1 << 20;
        open_set(wb_options());
        create(pinned);
        const std::string data = random_bytes(rng_, size);
        write_chunks(data);
        EXPECT_EQ(dirty(), size) << "cached dirty";
        EXPECT_EQ(pinned_dirty_of(path("f")), pinned ? size : 0);
        EXPECT_EQ(set_->stats().pinned_bytes, pinned ? size : 0);
        EXPECT_TRUE(drain_writeback());
        EXPECT_EQ(backing_read(path("f"), 0, size), data);
        EXPECT_EQ(pinned_clean_of(path("f")), pinned ? size : 0) << "still pinned once written back";
        fill_with_other_files(kBuckets);
        EXPECT_GT(set_->alloc().device(0).stats().invalidated, kBuckets) << "the cache was reused";
        EXPECT_EQ(set_->stats().pinned_bytes, pinned ? size : 0) << "as the last GC pass counted";
        if (pinned) {
            auto prio = set_->priority_stats();
            EXPECT_TRUE(prio);
            if (prio) {
                EXPECT_GE(prio.value().pinned, size / kTestBucketSize);
            }
        }
        const CacheStats before = set_->stats();
        EXPECT_EQ(file_->read_chunked(0, size), data);
        expect_consistent();
        return set_->stats().bytes_read_backing - before.bytes_read_backing;
    }

    std::unique_ptr<EngineFile> file_;
};

TEST_F(PinnedWritesTest, DirtyDataOfAPinnedFileStaysPinnedOnceWrittenBackAndOutlivesFills) {
    EXPECT_EQ(backing_bytes_after_write_back_and_fill(true), 0u) << "every read of the pinned file hits";
}

TEST_F(PinnedWritesTest, DirtyDataOfAnUnpinnedFileIsEvictedByTheSameFills) {
    EXPECT_GT(backing_bytes_after_write_back_and_fill(false), 0u);
}

TEST_F(PinnedWritesTest, AnOverwriteOfPinnedDirtyDataKeepsPinnedBytesExact) {
    const std::size_t size = 512 << 10;
    open_set(wb_options());
    create(true);
    std::string data = random_bytes(rng_, size);
    write_chunks(data);
    // The second half overwritten while dirty (writeback is held back).
    const std::string second = random_bytes(rng_, size / 2);
    write_chunks(second, size / 2);
    data.replace(size / 2, second.size(), second);
    EXPECT_EQ(set_->stats().pinned_bytes, size) << "the overwritten extents are counted no more";
    EXPECT_EQ(pinned_dirty_of(path("f")), size);
    EXPECT_EQ(dirty(), size);
    ASSERT_TRUE(drain_writeback());
    EXPECT_EQ(pinned_clean_of(path("f")), size);
    // The first half overwritten once clean (written back as it goes).
    const std::string first = random_bytes(rng_, size / 2);
    write_chunks(first);
    data.replace(0, first.size(), first);
    EXPECT_EQ(set_->stats().pinned_bytes, size);
    EXPECT_EQ(pinned_dirty_of(path("f")) + pinned_clean_of(path("f")), size);
    ASSERT_TRUE(set_->run_gc());
    EXPECT_EQ(set_->stats().pinned_bytes, size) << "as counted between passes";
    ASSERT_TRUE(drain_writeback());
    EXPECT_EQ(pinned_clean_of(path("f")), size);
    EXPECT_EQ(backing_read(path("f"), 0, size), data);
    expect_consistent();

    const struct statx s = stat_path(path("f"));
    file_.reset();
    ASSERT_EQ(::unlink(path("f").c_str()), 0);
    set_->unlinked(makedev(s.stx_dev_major, s.stx_dev_minor), s.stx_ino, 0);
    // The range delete of its extents reports nothing: the GC pass it asks
    // for counts the pinned bytes again.
    while (set_->run_background_until_idle() != 0) {
    }
    EXPECT_EQ(set_->stats().pinned_bytes, 0u) << "an unlinked file's data is pinned no more";
    expect_consistent();
}

TEST_F(PinnedWritesTest, AnUnpinKeepsDirtyDataAndMakesItReclaimable) {
    const std::size_t size = 1 << 20;
    open_set(wb_options());  // still dirty when unpinned
    create(true);
    const std::string data = random_bytes(rng_, size);
    write_chunks(data);
    ASSERT_EQ(pinned_dirty_of(path("f")), size);
    ASSERT_TRUE(pin(path("f"), false));
    EXPECT_EQ(pinned_dirty_of(path("f")), 0u);
    EXPECT_EQ(unpinned_dirty_of(path("f")), size) << "still dirty, never dropped";
    EXPECT_EQ(set_->stats().pinned_bytes, 0u);
    EXPECT_EQ(dirty(), size);
    ASSERT_TRUE(set_->run_gc());
    auto prio = set_->priority_stats();
    ASSERT_TRUE(prio);
    EXPECT_EQ(prio.value().pinned, 0u);
    EXPECT_GE(prio.value().dirty, size / kTestBucketSize);
    expect_consistent();

    ASSERT_TRUE(drain_writeback());
    EXPECT_EQ(backing_read(path("f"), 0, size), data);
    fill_with_other_files(kBuckets);
    const CacheStats before = set_->stats();
    EXPECT_EQ(file_->read_chunked(0, size), data);
    EXPECT_GT(set_->stats().bytes_read_backing, before.bytes_read_backing) << "the unpinned data was reclaimed";
}

TEST_F(PinnedWritesTest, DirtyWritesPastThePinLimitAreCachedUnpinned) {
    const std::size_t size = 1536 << 10;
    CacheSetOptions o = wb_options();
    o.tunables.pin_limit_percent = 20;  // 1 MiB of the 5 MiB cache
    open_set(std::move(o));
    create(true);
    const std::string data = random_bytes(rng_, size);
    write_chunks(data);
    const std::uint64_t limit = kBuckets * kTestBucketSize / 100 * 20;
    EXPECT_EQ(dirty(), size) << "all cached dirty";
    const std::uint64_t pinned = pinned_dirty_of(path("f"));
    EXPECT_GT(pinned, 0u);
    EXPECT_LE(pinned, limit);
    EXPECT_GT(pinned + kChunk, limit) << "pinned up to the limit";
    EXPECT_EQ(unpinned_dirty_of(path("f")), size - pinned);
    EXPECT_EQ(set_->stats().pinned_bytes, pinned);
    expect_consistent();
}

TEST_F(PinnedWritesTest, AWritethroughWriteToAPinnedFileIsCachedPinned) {
    const std::size_t size = 256 << 10;
    CacheSetOptions o = wb_options();
    o.tunables.mode = CacheMode::writethrough;
    open_set(std::move(o));
    create(true);
    const std::string data = random_bytes(rng_, size);
    write_chunks(data);
    EXPECT_EQ(backing_read(path("f"), 0, size), data);
    EXPECT_EQ(dirty(), 0u);
    EXPECT_EQ(pinned_clean_of(path("f")), size);
    EXPECT_EQ(set_->stats().pinned_bytes, size);
}

}  // namespace
}  // namespace bcl::test
