// The sharded GC pass (gc/gc.h, gc/shard.h): however the keys are cut and
// however many threads walk them, in one pass or in steps, a pass leaves
// the same bucket marks, the same totals and the same index as one thread
// walking every extent in order. Two worlds are built alike from one seed
// (gens, extents over three devices with every kind of copy GC tells apart,
// buckets waiting for reuse and reused); one gets the single walk, the
// other the walk under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "../alloc/test_support.h"
#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/index/index.h"
#include "common/temp_dir.h"
#include "gc/gc.h"

namespace bcl::test {
namespace {

constexpr std::uint32_t kBucketSectors = 128;
constexpr std::uint64_t kFirstBucket = 1;
const std::vector<std::uint64_t> kDeviceBuckets = {40, 25, 60};

struct WalkConfig {
    unsigned threads = 1;
    std::vector<ExtentKey> cuts;  // what the split returns
    std::size_t step_batch = 0;   // 0: run_pass(); else step() with this batch
    bool drop_all = false;
};

// An index and the allocators of three devices, filled from a seed.
class World {
public:
    explicit World(std::uint64_t seed, std::size_t extents) : rng_(seed) {
        IndexOptions io;
        io.create_if_missing = true;
        io.cache_uuid = Uuid{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
        auto opened = Index::open(dir_.file("index"), io);
        EXPECT_TRUE(opened) << opened.error().message;
        index_ = std::move(opened).value();
        std::vector<CacheDeviceConfig> devices;
        for (const std::uint64_t n : kDeviceBuckets)
            devices.push_back(CacheDeviceConfig{Geometry{n, kFirstBucket, kBucketSectors, 8}, {}});
        auto created = AllocSet::create(devices, store_, exec_.executor());
        EXPECT_TRUE(created) << created.error().message;
        alloc_ = std::move(created).value();
        load_gens();
        // Half before the allocator reuses buckets, half after: the pass
        // under test finds stale extents of both kinds.
        for (std::size_t i = 0; i < extents / 2; ++i) add_extent();
        age();
        for (std::size_t i = extents / 2; i < extents; ++i) add_extent();
    }

    Index& index() { return *index_; }
    AllocSet& alloc() { return *alloc_; }

    // A GcJob over this world walking as `c` says; the last pass's totals.
    GcPassStats run(const WalkConfig& c) {
        GcOptions o;
        o.threads = c.threads;
        o.batch = c.step_batch ? c.step_batch : 4096;
        o.split = [cuts = c.cuts](const Index&, unsigned) { return cuts; };
        // Rejects every third dirty extent it is asked about, by key.
        o.verify_dirty = [](const Extent& e) { return (e.key.end / kSectorSize) % 3 != 0; };
        GcJob gc(*index_, *alloc_, counters_, countdown_, log_, std::move(o));
        if (c.step_batch == 0) {
            const Status st = gc.run_pass(c.drop_all);
            EXPECT_TRUE(st) << st.error().message;
        } else {
            gc.start(c.drop_all);
            for (int guard = 0; guard < 1000000; ++guard) {
                auto more = gc.step();
                EXPECT_TRUE(more) << more.error().message;
                if (!more || !more.value()) break;
            }
        }
        EXPECT_FALSE(gc.running());
        return gc.last_pass();
    }

    // Every bucket of every device as the allocators hold it.
    std::vector<BucketInfo> buckets() const {
        std::vector<BucketInfo> out;
        for (unsigned d = 0; d < alloc_->ndevices(); ++d)
            for (std::uint64_t b = 0; b < kDeviceBuckets[d]; ++b) out.push_back(alloc_->device(d).bucket(b));
        return out;
    }
    std::vector<Extent> extents() const {
        std::vector<Extent> out;
        const Status st = index_->for_each_extent([&](const Extent& e) {
            out.push_back(e);
            return true;
        });
        EXPECT_TRUE(st) << st.error().message;
        return out;
    }

private:
    void load_gens() {
        for (unsigned d = 0; d < kDeviceBuckets.size(); ++d) {
            std::vector<BucketGenPrio> gens;
            for (std::uint64_t b = kFirstBucket; b < kDeviceBuckets[d]; ++b)
                gens.push_back(BucketGenPrio{b, static_cast<std::uint8_t>(rng_()), kInitialPrio});
            EXPECT_TRUE(alloc_->device(d).load(gens));
        }
    }

    // One extent after the last of a random file: on a device that may not
    // exist, in a bucket that may be out of range, with the bucket's gen or
    // another, clean, dirty or pinned, with a second copy or not.
    void add_extent() {
        const std::uint64_t file = 1 + rng_() % 40;
        std::uint64_t& end = file_end_[file];
        end += (1 + rng_() % 3) * kSectorSize;  // gaps keep extents apart
        const std::uint64_t length = (1 + rng_() % 16) * kSectorSize;
        const auto pick_ptr = [&](unsigned not_device) {
            ExtentPtr p;
            do {
                p.device = static_cast<std::uint8_t>(rng_() % 100 == 0 ? 3 : rng_() % 3);
            } while (p.device == not_device);
            const std::uint64_t n = p.device < 3 ? kDeviceBuckets[p.device] : 10;
            p.bucket = rng_() % 50 == 0 ? n + rng_() % 3 : kFirstBucket + rng_() % (n - kFirstBucket);
            p.gen = static_cast<std::uint8_t>(rng_() % 5 == 0 || p.device >= 3 || p.bucket >= n
                                                  ? rng_()
                                                  : alloc_->device(p.device).bucket(p.bucket).gen);
            p.sector = p.bucket * kBucketSectors + rng_() % 64;
            return p;
        };
        const ExtentPtr first = pick_ptr(99);
        ExtentValue v = make_extent_value(length, first.device, first.bucket, first.gen, first.sector,
                                          static_cast<std::uint32_t>(rng_()), rng_() % 6 == 0);
        if (rng_() % 8 == 0) v.flags |= kExtentPinned;
        if (rng_() % 5 == 0) v.replica = pick_ptr(first.device);
        auto inserted = index_->insert_extent(file, end, v);
        EXPECT_TRUE(inserted) << inserted.error().message;
        end += length;
    }

    // A pass, then the allocator invalidates what it may (some buckets now
    // wait for reuse, their old data still read) and a few are handed out
    // (their old data no longer read); half of those stay pinned.
    void age() {
        run(WalkConfig{});
        exec_.run_until_idle();
        for (unsigned d = 0; d < alloc_->ndevices(); ++d)
            for (int i = 0; i < 3; ++i) {
                auto b = alloc_->device(d).bucket_alloc(Reserve::none, false);
                if (!b) break;
                if (i % 2 == 0) alloc_->device(d).put(b.value());
            }
    }

    TempDir dir_;
    FakeGenStore store_;
    ManualExecutor exec_;
    std::mt19937_64 rng_;
    std::unique_ptr<Index> index_;
    std::unique_ptr<AllocSet> alloc_;
    CacheCounters counters_;
    GcCountdown countdown_{1u << 20};
    Logger log_{LogLevel::error, [](LogLevel, std::string_view) {}};
    std::map<std::uint64_t, std::uint64_t> file_end_;
};

void expect_same_marks(const World& a, const World& b) {
    const auto x = a.buckets(), y = b.buckets();
    ASSERT_EQ(x.size(), y.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        EXPECT_EQ(x[i].gen, y[i].gen) << "bucket " << i;
        EXPECT_EQ(x[i].read_gen, y[i].read_gen) << "bucket " << i;
        EXPECT_EQ(x[i].mark, y[i].mark) << "bucket " << i;
        EXPECT_EQ(x[i].sectors_used, y[i].sectors_used) << "bucket " << i;
        EXPECT_EQ(x[i].pin, y[i].pin) << "bucket " << i;
    }
}

// The walk `c` against one thread over one shard, on two worlds built alike.
void expect_same_as_one_thread(std::uint64_t seed, std::size_t extents, const WalkConfig& c) {
    World ref(seed, extents), under(seed, extents);
    expect_same_marks(ref, under);  // built alike
    const std::size_t before = ref.extents().size();
    ASSERT_EQ(ref.extents(), under.extents());
    WalkConfig one;
    one.drop_all = c.drop_all;
    const GcPassStats want = ref.run(one);
    const GcPassStats got = under.run(c);
    EXPECT_EQ(got, want);
    EXPECT_EQ(got.extents, before);
    expect_same_marks(ref, under);
    EXPECT_EQ(under.extents(), ref.extents());
}

// Cuts that land inside one file's extents, between two extents of a file,
// at an extent's own key, before the first key and after the last, and
// next to each other (shards with nothing in them).
std::vector<ExtentKey> awkward_cuts(std::uint64_t seed, std::size_t extents) {
    World w(seed, extents);
    const std::vector<Extent> all = w.extents();
    std::vector<ExtentKey> cuts = {ExtentKey{0, 1}, ExtentKey{0, 2}};
    for (std::size_t i = all.size() / 5; i < all.size(); i += all.size() / 5 + 1) {
        const ExtentKey k = all[i].key;
        cuts.push_back(ExtentKey{k.file, k.end - kSectorSize});  // inside the extent
        cuts.push_back(k);                                       // at its key
        cuts.push_back(ExtentKey{k.file, k.end + 1});            // right after it
        cuts.push_back(ExtentKey{k.file, k.end + 2});            // nothing in between
    }
    cuts.push_back(ExtentKey{UINT64_MAX, 0});
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    return cuts;
}

TEST(GcShardTest, TheWorldHasEveryKindOfExtent) {
    World w(1, 3000);
    const GcPassStats s = w.run(WalkConfig{});
    EXPECT_EQ(s.extents, w.extents().size() + s.stale_deleted);
    EXPECT_GT(s.live, 0u);
    EXPECT_GT(s.stale_deleted, 0u);
    EXPECT_GT(s.awaiting_reuse, 0u);
    EXPECT_GT(s.copies_dropped, 0u);
    EXPECT_GT(s.dirty_bytes, 0u);
    EXPECT_GT(s.pinned_bytes, 0u);
}

TEST(GcShardTest, CutsInsideFilesAndEmptyShardsMarkAsOneThread) {
    WalkConfig c;
    c.threads = 3;
    c.cuts = awkward_cuts(2, 3000);
    ASSERT_GT(c.cuts.size(), 10u);
    expect_same_as_one_thread(2, 3000, c);
}

TEST(GcShardTest, RandomCutsAndThreadCountsMarkAsOneThread) {
    for (std::uint64_t seed = 10; seed < 14; ++seed) {
        World w(seed, 2000);
        const std::vector<Extent> all = w.extents();
        std::mt19937_64 rng(seed);
        WalkConfig c;
        c.threads = 2 + static_cast<unsigned>(seed % 3);
        for (int i = 0; i < 12; ++i) c.cuts.push_back(all[rng() % all.size()].key);
        std::sort(c.cuts.begin(), c.cuts.end());
        c.cuts.erase(std::unique(c.cuts.begin(), c.cuts.end()), c.cuts.end());
        SCOPED_TRACE(seed);
        expect_same_as_one_thread(seed, 2000, c);
    }
}

TEST(GcShardTest, CutsOutOfOrderAreIgnoredNotTrusted) {
    WalkConfig c;
    c.threads = 2;
    c.cuts = {ExtentKey{30, 0}, ExtentKey{10, 0}, ExtentKey{30, 0}, ExtentKey{20, 512}, ExtentKey{0, 0}};
    expect_same_as_one_thread(3, 1500, c);
}

TEST(GcShardTest, StepsOverShardsMarkAsOneThread) {
    for (const std::size_t batch : {1, 7, 500}) {
        WalkConfig c;
        c.threads = 3;
        c.cuts = awkward_cuts(4, 2000);
        c.step_batch = batch;
        SCOPED_TRACE(batch);
        expect_same_as_one_thread(4, 2000, c);
    }
}

TEST(GcShardTest, ADropAllPassWithVerifiedDirtyDataMarksAsOneThread) {
    WalkConfig c;
    c.threads = 4;
    c.cuts = awkward_cuts(5, 2000);
    c.drop_all = true;
    expect_same_as_one_thread(5, 2000, c);
    c.step_batch = 33;
    expect_same_as_one_thread(5, 2000, c);
}

TEST(GcShardTest, AnEmptyIndexAndOneExtent) {
    for (const std::size_t n : {0, 1}) {
        for (const std::size_t batch : {0, 1, 3}) {
            WalkConfig c;
            c.threads = 4;
            c.cuts = {ExtentKey{0, 1}, ExtentKey{20, 0}, ExtentKey{20, 1}, ExtentKey{UINT64_MAX, 0}};
            c.step_batch = batch;
            SCOPED_TRACE(n * 10 + batch);
            expect_same_as_one_thread(6, n, c);
        }
    }
}

}  // namespace
}  // namespace bcl::test
