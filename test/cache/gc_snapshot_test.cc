// The GC snapshot (gc/snapshot.h): after a clean close the next open takes
// its bucket marks from the snapshot that close made, without walking the
// index, and they are the marks a full pass finds, dirty data included;
// after any write to the index in between, or with a damaged snapshot, the
// open walks the index as before.
#include <fstream>

#include "cache_fixture.h"
#include "gc/snapshot.h"

namespace bcl::test {
namespace {

class GcSnapshotTest : public CacheTest {
protected:
    void SetUp() override {
        // Dirty data: files are found again by handle (CAP_DAC_READ_SEARCH).
        if (::geteuid() != 0) GTEST_SKIP() << "writeback needs root (open_by_handle_at)";
        CacheTest::SetUp();
        ASSERT_TRUE(open_backing_root());
        format_cache(64);
    }
    CacheSetOptions wb_options() const {
        CacheSetOptions o = options();
        o.tunables.mode = CacheMode::writeback;
        o.backing_root_fd = root_fd_;
        o.tunables.writeback.writeback_running = false;  // the dirty data stays dirty
        return o;
    }
    // Every bucket's mark and live sectors.
    std::vector<GcSnapshot::Bucket> marks() const {
        std::vector<GcSnapshot::Bucket> out;
        const CacheAllocator& ca = set_->alloc().device(0);
        for (std::uint64_t b = ca.geometry().first_bucket; b < ca.geometry().nbuckets; ++b) {
            const BucketInfo info = ca.bucket(b);
            out.push_back({info.mark, info.sectors_used});
        }
        return out;
    }
    std::string snapshot_file() const { return index_dir_ + "/" + std::string(kGcSnapshotFile); }
    bool snapshot_exists() const { return ::access(snapshot_file().c_str(), F_OK) == 0; }
    void close_set() {
        ASSERT_TRUE(set_->close());
        set_.reset();
    }

    // Caches two clean files and leaves one dirty; the data to read back.
    void populate() {
        clean_ = random_bytes(rng_, 300000);
        write_whole(path("clean"), clean_);
        write_whole(path("dirty"), random_bytes(rng_, 200000));
        dirty_ = random_bytes(rng_, 200000);
        open_set(wb_options());
        EngineFile c(*set_, path("clean"));
        ASSERT_EQ(c.read_chunked(0, clean_.size()), clean_);
        EngineFile d(*set_, path("dirty"));
        d.write(0, dirty_);
        set_->run_background_until_idle();
        dirty_bytes_ = set_->stats().dirty_data;
        ASSERT_GT(dirty_bytes_, 0u);
    }
    void expect_data_back() {
        EngineFile c(*set_, path("clean"));
        EXPECT_EQ(c.read_chunked(0, clean_.size()), clean_);
        EngineFile d(*set_, path("dirty"));
        EXPECT_EQ(d.read_chunked(0, dirty_.size()), dirty_);
    }

    std::string clean_, dirty_;
    std::uint64_t dirty_bytes_ = 0;
};

TEST_F(GcSnapshotTest, AReopenAfterACleanCloseTakesTheMarksOfTheLastPass) {
    populate();
    close_set();
    ASSERT_TRUE(snapshot_exists());
    open_set(wb_options());
    EXPECT_TRUE(set_->opened_from_gc_snapshot());
    EXPECT_FALSE(snapshot_exists()) << "a snapshot is used once";
    EXPECT_EQ(set_->stats().dirty_data, dirty_bytes_);
    const auto restored = marks();
    EXPECT_TRUE(std::any_of(restored.begin(), restored.end(),
                            [](const GcSnapshot::Bucket& b) { return b.mark == GcMark::dirty; }));
    ASSERT_TRUE(set_->run_gc());
    EXPECT_EQ(marks(), restored) << "the restored marks are those a full pass finds";
    expect_data_back();
    // The freelists were filled from the restored marks: reusing every
    // bucket that may be reused keeps the dirty data.
    fill_with_other_files(64);
    EngineFile d(*set_, path("dirty"));
    EXPECT_EQ(d.read_chunked(0, dirty_.size()), dirty_);
    EXPECT_EQ(set_->stats().dirty_data, dirty_bytes_);
}

TEST_F(GcSnapshotTest, AWriteToTheIndexInBetweenMeansAWalk) {
    populate();
    close_set();
    ASSERT_TRUE(snapshot_exists());
    {
        IndexOptions io;
        auto index = Index::open(index_dir_, io);
        ASSERT_TRUE(index) << index.error().message;
        ASSERT_TRUE(index.value()->put_counter("written_offline", 1, true));
    }
    open_set(wb_options());
    EXPECT_FALSE(set_->opened_from_gc_snapshot());
    EXPECT_FALSE(snapshot_exists());
    EXPECT_EQ(set_->stats().dirty_data, dirty_bytes_);
    const auto walked = marks();
    ASSERT_TRUE(set_->run_gc());
    EXPECT_EQ(marks(), walked);
    expect_data_back();
}

TEST_F(GcSnapshotTest, ADamagedSnapshotIsIgnored) {
    populate();
    close_set();
    {
        std::fstream f(snapshot_file(), std::ios::in | std::ios::out | std::ios::binary);
        ASSERT_TRUE(f);
        f.seekp(20);
        f.put('\x5a');
    }
    open_set(wb_options());
    EXPECT_FALSE(set_->opened_from_gc_snapshot());
    EXPECT_FALSE(snapshot_exists());
    EXPECT_EQ(set_->stats().dirty_data, dirty_bytes_);
    expect_data_back();
}

TEST(GcSnapshotFormat, RoundTripsAndRefusesDamage) {
    GcSnapshot s;
    s.sequence = 77;
    s.extents = 5;
    s.live = 4;
    s.dirty_bytes = 8192;
    s.pinned_bytes = 4096;
    s.devices = {{{GcMark::unused, 0}, {GcMark::dirty, 16}, {GcMark::pinned, 8}}, {{GcMark::reclaimable, 128}}};
    const std::string bytes = encode_gc_snapshot(s);
    auto back = decode_gc_snapshot(bytes);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value(), s);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        std::string bad = bytes;
        bad[i] = static_cast<char>(bad[i] ^ 0x10);
        EXPECT_FALSE(decode_gc_snapshot(bad)) << "a flipped byte at " << i;
    }
    EXPECT_FALSE(decode_gc_snapshot(bytes.substr(0, bytes.size() - 1)));
    EXPECT_FALSE(decode_gc_snapshot(bytes + "x"));
}

}  // namespace
}  // namespace bcl::test
