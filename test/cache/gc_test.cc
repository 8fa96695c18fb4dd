// GC: a data set larger than the cache is read again and again; buckets
// are reused, stale pointers are never served, the accounting stays true.
#include <optional>
#include <utility>

#include "cache_fixture.h"

namespace bcl::test {
namespace {

TEST_F(CacheTest, ADataSetThreeTimesTheCacheReadTwiceWithGcKeepsWorking) {
    constexpr std::uint64_t kBuckets = 80;
    format_cache(kBuckets);
    open_set();
    const std::uint64_t capacity = kBuckets * kTestBucketSize;
    const std::size_t file_size = 200000;
    const std::uint64_t chunks = (file_size + 65535) / 65536;
    const std::size_t nfiles = 3 * capacity / file_size + 1;
    for (std::size_t i = 0; i < nfiles; ++i) write_whole(path("f" + std::to_string(i)), random_bytes(rng_, file_size));

    std::uint64_t gc_checks = 0;
    for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t i = 0; i < nfiles; ++i) {
            const std::string name = path("f" + std::to_string(i));
            const std::string expect = backing_read(name, 0, file_size);
            EngineFile f(*set_, name);
            const auto hits = set_->stats().cache_hits;
            ASSERT_EQ(f.read_chunked(0, file_size), expect) << name;
            const auto hits_after_first = set_->stats().cache_hits;
            EXPECT_LT(hits_after_first, hits + chunks) << "the first read of " << name << " misses";
            ASSERT_EQ(f.read_chunked(0, file_size), expect) << name;
            EXPECT_EQ(set_->stats().cache_hits, hits_after_first + chunks) << "the second read of " << name << " hits";
            ASSERT_EQ(f.read(12345, 100000), expect.substr(12345, 100000));
            set_->run_background_until_idle();
            if (i % 7 == 6) {
                ASSERT_TRUE(set_->run_gc());
                set_->run_background_until_idle();
                ASSERT_TRUE(set_->run_gc());
                auto report = set_->check_consistency();
                ASSERT_TRUE(report);
                EXPECT_EQ(report.value().problems, std::vector<std::string>{});
                EXPECT_GT(report.value().live_sectors, 0u);
                ++gc_checks;
            }
        }
    }
    EXPECT_GT(gc_checks, 0u);
    const CacheStats s = set_->stats();
    EXPECT_GT(s.gc_runs, 2 * gc_checks);
    const AllocatorStats a = set_->alloc().device(0).stats();
    EXPECT_GT(a.invalidated, kBuckets) << "buckets were reused";
    EXPECT_EQ(s.cache_read_errors, 0u);
}

// bcache's sectors_to_gc: a sixteenth of the cache written asks for one GC
// pass, which runs on the strand (here: in run_background_until_idle()),
// never on the thread that wrote.
TEST_F(CacheTest, GcRunsOnceASixteenthOfTheCacheHasBeenWritten) {
    constexpr std::uint64_t kBuckets = 64;
    format_cache(kBuckets);
    open_set();                                                    // the timer is off (gc_interval 0)
    const std::uint64_t budget = kBuckets * kTestBucketSize / 16;  // bytes
    ASSERT_EQ(set_->stats().gc_runs, 1u);

    // Just under the budget: no pass.
    const std::size_t first = budget - 4 * kTestBlockSize;
    write_whole(path("a"), random_bytes(rng_, first));
    {
        EngineFile a(*set_, path("a"));
        ASSERT_EQ(a.read_chunked(0, first).size(), first);
    }
    set_->run_background_until_idle();
    EXPECT_EQ(set_->stats().gc_runs, 1u) << "GC ran before a sixteenth of the cache was written";

    // One read that crosses it: one pass is queued, not run by the reader.
    const std::size_t second = 8 * kTestBlockSize;
    write_whole(path("b"), random_bytes(rng_, second));
    EngineFile b(*set_, path("b"));
    ASSERT_EQ(b.read(0, second).size(), second);
    EXPECT_EQ(set_->stats().gc_runs, 1u) << "GC ran on the foreground thread";
    EXPECT_GT(set_->run_background_until_idle(), 0u);
    EXPECT_EQ(set_->stats().gc_runs, 2u) << "exactly one pass per countdown";
    EXPECT_EQ(set_->alloc().device(0).stats().gc_wakeups, 0u) << "the allocator asked for GC, not the countdown";

    // The countdown started again with that pass.
    ASSERT_EQ(b.read(0, second).size(), second);  // hits write nothing
    set_->run_background_until_idle();
    EXPECT_EQ(set_->stats().gc_runs, 2u);
    auto report = set_->check_consistency();
    ASSERT_TRUE(report);
    EXPECT_EQ(report.value().problems, std::vector<std::string>{});
}

// A fill of three times the cache, with background work run between reads
// as the strand would, but no GC asked for by the test and no timer: GC
// keeps pace, and the bucket figures follow the allocator between passes.
TEST_F(CacheTest, GcKeepsPaceWithAFillWithoutTheTimer) {
    constexpr std::uint64_t kBuckets = 64;
    format_cache(kBuckets);
    open_set();
    const std::uint64_t capacity = kBuckets * kTestBucketSize;
    const std::size_t file_size = 256 << 10;
    const std::size_t nfiles = 3 * capacity / file_size;
    const std::uint64_t total_free = set_->stats().buckets_total;
    ASSERT_GT(total_free, 0u);
    std::uint64_t min_free = set_->stats().buckets_free;
    for (std::size_t i = 0; i < nfiles; ++i) {
        const std::string name = path("f" + std::to_string(i));
        const std::string data = random_bytes(rng_, file_size);
        write_whole(name, data);
        EngineFile f(*set_, name);
        ASSERT_EQ(f.read_chunked(0, file_size), data) << name;
        min_free = std::min(min_free, set_->stats().buckets_free);
    }
    const CacheStats s = set_->stats();
    // 3 x 16 sixteenths written (less what found no free bucket): about
    // 48 passes; the allocator's own requests add to them.
    EXPECT_GE(s.gc_runs, 1u + 3 * 16 / 2) << "GC did not keep pace with the fill";
    EXPECT_LT(min_free, total_free / 2) << "buckets_free never showed the cache filling up";
    EXPECT_LE(s.buckets_free, s.buckets_total);
    ASSERT_TRUE(set_->run_gc());
    auto report = set_->check_consistency();
    ASSERT_TRUE(report);
    EXPECT_EQ(report.value().problems, std::vector<std::string>{});
}

TEST_F(CacheTest, AStalePointerIsNeverServed) {
    constexpr std::uint64_t kBuckets = 64;
    format_cache(kBuckets);
    open_set();
    const std::string data = random_bytes(rng_, 60000);
    write_whole(path("victim"), data);
    std::uint64_t id;
    {
        EngineFile v(*set_, path("victim"));
        ASSERT_EQ(v.read(0, data.size()), data);
        id = v.state->record.file_id;
    }
    auto extents = set_->index().lookup(id, 0, UINT64_MAX);
    ASSERT_TRUE(extents);
    ASSERT_FALSE(extents.value().empty());
    const Extent victim = extents.value().front();

    // Read other data until the victim's bucket was reused and rewritten.
    bool reused = false;
    for (int i = 0; i < 200 && !reused; ++i) {
        const std::string name = path("other" + std::to_string(i));
        write_whole(name, random_bytes(rng_, 200000));
        EngineFile o(*set_, name);
        ASSERT_EQ(o.read(0, 200000).size(), 200000u);
        set_->run_background_until_idle();
        // Handed out again: invalidation alone leaves the data readable.
        reused = set_->alloc().device(0).bucket(victim.value.bucket).read_gen != victim.value.gen;
    }
    ASSERT_TRUE(reused);
    // The stale extent may still be indexed (until GC); reading must not use it.
    const auto misses = set_->stats().cache_misses;
    EngineFile v(*set_, path("victim"));
    EXPECT_EQ(v.read(0, data.size()), data);
    EXPECT_EQ(set_->stats().cache_misses, misses + 1);
    ASSERT_TRUE(set_->run_gc());
    auto report = set_->check_consistency();
    ASSERT_TRUE(report);
    EXPECT_EQ(report.value().problems, std::vector<std::string>{});
}

// Invalidation picks a bucket for reuse, but until the allocator hands it
// out its data is still read; GC neither counts nor deletes the extents that
// point there, and the hand-out makes them stale.
TEST_F(CacheTest, AnExtentInABucketWaitingForReuseIsStillServedUntilItIsHandedOut) {
    format_cache(64);
    open_set();
    struct Cached {
        std::string name;
        std::string data;
        std::uint64_t id;
    };
    std::vector<Cached> files;
    const CacheAllocator& ca = set_->alloc().device(0);
    const auto waiting = [&](const Extent& e) {
        const BucketInfo info = ca.bucket(e.value.bucket);
        return info.read_gen == e.value.gen && info.gen != e.value.gen;
    };
    std::optional<std::pair<Cached, Extent>> found;
    for (int i = 0; i < 100 && !found; ++i) {
        Cached c{path("f" + std::to_string(i)), random_bytes(rng_, 200000), 0};
        write_whole(c.name, c.data);
        EngineFile f(*set_, c.name);
        ASSERT_EQ(f.read_chunked(0, c.data.size()), c.data);
        c.id = f.state->record.file_id;
        files.push_back(c);
        for (const Cached& old : files) {
            auto extents = set_->index().lookup(old.id, 0, UINT64_MAX);
            ASSERT_TRUE(extents);
            for (const Extent& e : extents.value())
                if (!found && waiting(e)) found.emplace(old, e);
        }
    }
    ASSERT_TRUE(found) << "no bucket holding indexed data was invalidated";
    const auto& [file, extent] = *found;
    const std::uint64_t start = extent.start(), len = extent.value.length;
    EngineFile f(*set_, file.name);
    auto hits = set_->stats().cache_hits;
    EXPECT_EQ(f.read(start, len), file.data.substr(start, len));
    EXPECT_EQ(set_->stats().cache_hits, hits + 1);

    // GC: stale to its marking, but kept while it is read.
    ASSERT_TRUE(set_->run_gc());
    auto report = set_->check_consistency();
    ASSERT_TRUE(report);
    EXPECT_EQ(report.value().problems, std::vector<std::string>{});
    auto after_gc = set_->index().lookup(file.id, start, start + len);
    ASSERT_TRUE(after_gc);
    ASSERT_EQ(after_gc.value().size(), 1u);
    EXPECT_EQ(after_gc.value().front().value, extent.value);
    EXPECT_TRUE(waiting(extent));
    hits = set_->stats().cache_hits;
    EXPECT_EQ(f.read(start, len), file.data.substr(start, len));
    EXPECT_EQ(set_->stats().cache_hits, hits + 1);

    // Reading other data makes the allocator hand the bucket out.
    for (int i = 0; i < 100 && ca.bucket(extent.value.bucket).read_gen == extent.value.gen; ++i) {
        const std::string name = path("g" + std::to_string(i));
        write_whole(name, random_bytes(rng_, 200000));
        EngineFile o(*set_, name);
        ASSERT_EQ(o.read_chunked(0, 200000).size(), 200000u);
    }
    ASSERT_NE(ca.bucket(extent.value.bucket).read_gen, extent.value.gen);
    const auto misses = set_->stats().cache_misses;
    EXPECT_EQ(f.read(start, len), file.data.substr(start, len));
    EXPECT_EQ(set_->stats().cache_misses, misses + 1);
    ASSERT_TRUE(set_->run_gc());
    auto gone = set_->index().lookup(file.id, start, start + len);
    ASSERT_TRUE(gone);
    for (const Extent& e : gone.value()) EXPECT_NE(e.value, extent.value);
}

TEST_F(CacheTest, TheConsistencyCheckFindsALiveExtentInAFreeBucket) {
    format_cache(64);
    open_set();
    auto before = set_->check_consistency();
    ASSERT_TRUE(before);
    EXPECT_TRUE(before.value().ok());
    const auto free = set_->alloc().device(0).freelist(Reserve::none);
    ASSERT_FALSE(free.empty());
    const std::uint64_t b = free.front();
    const std::uint8_t gen = set_->alloc().device(0).bucket(b).gen;
    const ExtentValue v = make_extent_value(4096, 0, b, gen, b * (kTestBucketSize / kSectorSize), 0, false);
    ASSERT_TRUE(set_->index().insert_extent(999999, 0, v));
    ASSERT_TRUE(set_->index().insert_extent(999999, 8192, v));
    auto after = set_->check_consistency();
    ASSERT_TRUE(after);
    EXPECT_FALSE(after.value().ok());
    EXPECT_GE(after.value().problem_count, 1u);
}

}  // namespace
}  // namespace bcl::test
