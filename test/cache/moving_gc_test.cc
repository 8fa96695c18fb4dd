// Moving GC in the engine: a cache fragmented by overwrites gets its free
// buckets back, keeps its live data cached (clean and dirty), loses no race
// with a write, and survives a power loss right after a move.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <random>
#include <set>

#include "bcachefs_lite/device/faulty_device.h"
#include "cache_fixture.h"
#include "gc/moving_gc.h"
#include "gc/scheduler.h"

namespace bcl::test {
namespace {

constexpr std::uint64_t kBlocksPerBucket = kTestBucketSize / kTestBlockSize;

// ---- the choice of buckets ----

TEST(MovingGcChoice, TakesTheSparsestThatFitTheReserve) {
    const std::uint32_t bucket = 128;
    std::vector<MovingCandidate> c;
    for (std::uint64_t b = 0; b < 10; ++b)
        c.push_back(MovingCandidate{0, 100 + b, 1, static_cast<std::uint32_t>(10 + 10 * b)});
    // 10 + 20 + 30 + 40 + 50 = 150 fits in a reserve of 160; 60 more does not.
    const auto chosen = choose_moving_buckets(c, bucket, 160);
    ASSERT_EQ(chosen.size(), 5u);
    for (std::size_t i = 0; i < chosen.size(); ++i) EXPECT_EQ(chosen[i].bucket, 100 + i);
}

TEST(MovingGcChoice, SkipsEmptyAndFullBucketsAndRoundsThatGainNothing) {
    const std::uint32_t bucket = 128;
    EXPECT_TRUE(
        choose_moving_buckets({{0, 1, 0, 0}, {0, 2, 0, bucket}, {0, 3, 0, bucket}}, bucket, 8 * bucket).empty());
    // Three buckets of 100 live sectors fill three buckets again: no gain.
    EXPECT_TRUE(choose_moving_buckets({{0, 1, 0, 100}, {0, 2, 0, 100}, {0, 3, 0, 100}}, bucket, 8 * bucket).empty());
    // Three nearly empty buckets fit in one.
    EXPECT_EQ(choose_moving_buckets({{0, 1, 0, 8}, {0, 2, 0, 8}, {0, 3, 0, 8}}, bucket, 8 * bucket).size(), 3u);
}

TEST(MovingGcChoice, FreeBucketsAreLowBelowTheReservePlusAnEighth) {
    EXPECT_TRUE(free_buckets_low(BucketCount{64, 31}, 24));
    EXPECT_FALSE(free_buckets_low(BucketCount{64, 32}, 24));
}

TEST(MovingGcRoundTest, WantsOnlyChosenBucketsWithTheirGen) {
    MovingGcRound round;
    round.start({{0, 7, 3, 10}, {0, 5, 1, 10}});
    ExtentValue v = make_extent_value(4096, 0, 7, 3, 7 * 128, 0, false);
    EXPECT_TRUE(round.wanted(v));
    v.gen = 4;
    EXPECT_FALSE(round.wanted(v));
    v = make_extent_value(4096, 0, 6, 3, 6 * 128, 0, false);
    EXPECT_FALSE(round.wanted(v));
}

// ---- the engine ----

class MovingGcTest : public CacheTest {
protected:
    CacheSetOptions mgc_options(bool enabled) const {
        CacheSetOptions o = options();
        o.tunables.moving_gc.copy_gc_enabled = enabled;
        return o;
    }
    // A GC pass and everything that follows it (moving GC, the pass it asks
    // for, the allocator), until nothing is left to do.
    void settle() {
        auto st = set_->run_gc();
        ASSERT_TRUE(st) << st.error().message;
        set_->run_background_until_idle();
    }
    std::uint64_t free_buckets() { return set_->stats().buckets_free; }
    // After a GC pass (the allocator learns of overwrites from GC).
    void expect_consistent() {
        ASSERT_TRUE(set_->run_gc());
        auto report = set_->check_consistency();
        ASSERT_TRUE(report) << report.error().message;
        EXPECT_TRUE(report.value().ok()) << (report.value().problems.empty() ? "" : report.value().problems[0]);
    }
    // Overwrites, with `mode`, `per_bucket` random blocks of every
    // bucket-sized region of `f` (whose contents are `data`); returns the
    // blocks left as they were.
    std::vector<std::uint64_t> fragment(EngineFile& f, std::string& data, unsigned per_bucket) {
        std::vector<std::uint64_t> kept;
        for (std::uint64_t region = 0; region * kTestBucketSize < data.size(); ++region) {
            std::vector<std::uint64_t> blocks;
            for (std::uint64_t i = 0; i < kBlocksPerBucket; ++i) blocks.push_back(region * kBlocksPerBucket + i);
            std::shuffle(blocks.begin(), blocks.end(), rng_);
            for (std::size_t i = 0; i < blocks.size(); ++i) {
                const std::uint64_t off = blocks[i] * kTestBlockSize;
                if (i < per_bucket) {
                    const std::string fresh = random_bytes(rng_, kTestBlockSize);
                    f.write(off, fresh);
                    data.replace(off, kTestBlockSize, fresh);
                } else {
                    kept.push_back(blocks[i]);
                }
            }
        }
        std::sort(kept.begin(), kept.end());
        return kept;
    }
    // Reads the blocks back one request each; whether each matched `data`.
    bool reread(EngineFile& f, const std::string& data, const std::vector<std::uint64_t>& blocks) {
        bool same = true;
        for (std::uint64_t b : blocks)
            same =
                same && f.read(b * kTestBlockSize, kTestBlockSize) == data.substr(b * kTestBlockSize, kTestBlockSize);
        return same;
    }

    struct Outcome {
        std::uint64_t free_fragmented = 0;  // after the GC pass that counts the fragmentation
        std::uint64_t free_settled = 0;     // after moving GC (if any) and its pass
        std::uint64_t hits_before_pressure = 0;
        std::uint64_t backing_bytes_before_pressure = 0;  // of the re-read of the kept blocks
        std::uint64_t backing_bytes_after_pressure = 0;   // of the same after caching another file
        std::uint64_t moved = 0;
    };
    // A file cached whole, fragmented by random overwrites that skip the
    // cache (writearound), GC and moving GC (if enabled), a re-read of the
    // blocks still cached, another file read (it needs buckets), and the
    // same re-read again.
    Outcome fragmented_cache(bool enabled) {
        Outcome out;
        format_cache(64);
        open_set(mgc_options(enabled));
        std::string data = random_bytes(rng_, 36 * kTestBucketSize);
        write_whole(path("a"), data);
        write_whole(path("b"), random_bytes(rng_, kOtherFileBuckets * kTestBucketSize));
        EngineFile a(*set_, path("a"));
        EXPECT_TRUE(a.read_chunked(0, data.size()) == data);
        EXPECT_TRUE(set_->set_mode(CacheMode::writearound));
        const std::vector<std::uint64_t> kept = fragment(a, data, 10);
        set_->gc().moving().set_tunables(MovingGcTunables{false});
        EXPECT_TRUE(set_->run_gc());
        out.free_fragmented = free_buckets();
        set_->gc().moving().set_tunables(MovingGcTunables{enabled});
        settle();
        out.free_settled = free_buckets();
        out.moved = set_->stats().moved_bytes;
        expect_consistent();

        const CacheStats before = set_->stats();
        EXPECT_TRUE(reread(a, data, kept));
        const CacheStats reread_once = set_->stats();
        out.hits_before_pressure = reread_once.cache_hits - before.cache_hits;
        out.backing_bytes_before_pressure = reread_once.bytes_read_backing - before.bytes_read_backing;

        EXPECT_TRUE(set_->set_mode(CacheMode::writethrough));
        {
            EngineFile b(*set_, path("b"));
            EXPECT_EQ(b.read_chunked(0, kOtherFileBuckets * kTestBucketSize).size(),
                      kOtherFileBuckets * kTestBucketSize);
        }
        settle();
        const CacheStats after_b = set_->stats();
        EXPECT_TRUE(reread(a, data, kept));
        out.backing_bytes_after_pressure = set_->stats().bytes_read_backing - after_b.bytes_read_backing;
        expect_consistent();
        return out;
    }

    std::mt19937_64 rng_{20261124};
    // Big enough that, without moving GC, the allocator must evict cached
    // data to take it and hand the evicted buckets out again (36 buckets of
    // "a", 24 kept free, 4 unused; buckets waiting on the freelists still
    // serve their old data, so evicting alone shows nothing).
    static constexpr std::uint64_t kOtherFileBuckets = 34;
};

TEST_F(MovingGcTest, FragmentationIsUndoneAndLiveDataStaysCached) {
    const Outcome o = fragmented_cache(true);
    EXPECT_GT(o.moved, 0u);
    EXPECT_GE(set_->stats().moving_gc_runs, 1u);
    EXPECT_GE(o.free_settled, o.free_fragmented + 5) << "moving GC frees the buckets it emptied";
    EXPECT_EQ(o.backing_bytes_before_pressure, 0u) << "moved data is read from the cache";
    EXPECT_GT(o.hits_before_pressure, 0u);
    EXPECT_EQ(o.backing_bytes_after_pressure, 0u) << "another file fits in the freed buckets";
}

TEST_F(MovingGcTest, WithoutItFragmentationStaysAndLiveDataIsEvicted) {
    const Outcome o = fragmented_cache(false);
    EXPECT_EQ(o.moved, 0u);
    EXPECT_EQ(set_->stats().moving_gc_runs, 0u);
    EXPECT_LE(o.free_settled, o.free_fragmented);
    EXPECT_EQ(o.backing_bytes_before_pressure, 0u);
    EXPECT_GT(o.backing_bytes_after_pressure, 0u) << "another file evicts live data of sparse buckets";
}

TEST_F(MovingGcTest, AWriteThatRacesWithAMoveWins) {
    format_cache(64);
    EngineFile* target = nullptr;
    std::string fresh;
    int calls = 0;
    CacheSetOptions o = mgc_options(false);
    // Between the copy and the swap of the first step, the whole file is
    // written anew.
    o.hooks.before_move_commit = [&] {
        if (calls++ == 0 && target) target->write(0, fresh);
    };
    open_set(std::move(o));
    std::string data = random_bytes(rng_, 36 * kTestBucketSize);
    write_whole(path("a"), data);
    EngineFile a(*set_, path("a"));
    EXPECT_TRUE(a.read_chunked(0, data.size()) == data);
    ASSERT_TRUE(set_->set_mode(CacheMode::writearound));
    (void)fragment(a, data, 10);
    fresh = random_bytes(rng_, data.size());
    target = &a;
    set_->gc().moving().set_tunables(MovingGcTunables{true});
    settle();
    ASSERT_GE(calls, 1) << "moving GC ran";
    EXPECT_EQ(set_->stats().moved_bytes, 0u) << "every swap found its extent changed";
    EXPECT_TRUE(a.read(0, fresh.size()) == fresh) << "the write that raced with the move";
    expect_consistent();
}

// Writeback: dirty data is moved too, and stays dirty.
class MovingGcDirtyTest : public MovingGcTest {
protected:
    void SetUp() override {
        // Files with dirty data are found again by file handle, which
        // needs CAP_DAC_READ_SEARCH.
        if (::geteuid() != 0) GTEST_SKIP() << "writeback needs root (open_by_handle_at)";
        MovingGcTest::SetUp();
        ASSERT_TRUE(open_backing_root());
    }
    // Moving GC off until the test turns it on; writeback only when asked.
    CacheSetOptions wb_options() const {
        CacheSetOptions o = mgc_options(false);
        o.tunables.mode = CacheMode::writeback;
        o.backing_root_fd = root_fd_;
        o.tunables.writeback.writeback_running = false;
        return o;
    }
    // What a move_under() hook saw: whether it ran, and the extents of a's
    // file it looked up before moving them.
    struct MoveUnder {
        bool done = false;
        std::vector<Extent> looked_up;
    };
    // A test hook that, the first time it runs for a's file (16 buckets),
    // looks its extents up, turns moving GC on and lets it move them, then
    // has "d" (holding `other`) take every bucket the allocator can give,
    // the emptied ones first.
    std::function<void(const CachedFile&, std::uint64_t, std::uint64_t)> move_under(MoveUnder& m,
                                                                                    const std::string& other) {
        return [this, &m, &other](const CachedFile& file, std::uint64_t, std::uint64_t) {
            if (m.done || file.record.size != 16 * kTestBucketSize) return;
            m.done = true;
            auto found = set_->index().lookup(file.record.file_id, 0, file.record.size);
            ASSERT_TRUE(found);
            m.looked_up = found.value();
            set_->gc().moving().set_tunables(MovingGcTunables{true});
            settle();
            EngineFile d(*set_, path("d"));
            EXPECT_TRUE(d.read_chunked(0, other.size()) == other);
        };
    }
    // How many of the extents the hook looked up lie in buckets reused since.
    std::size_t reused_buckets(const MoveUnder& m) {
        std::size_t reused = 0;
        for (const Extent& e : m.looked_up)
            if (set_->alloc().device(0).bucket(e.value.bucket).gen != e.value.gen) ++reused;
        return reused;
    }
    // On `set`: "c" (20 buckets) cached clean, "a" (16 buckets) written
    // dirty through `a`, then fragmented by overwrites that skip the cache;
    // a's contents.
    std::string dirty_fragmented(CacheSet& set, EngineFile& a) {
        const std::string clean = random_bytes(rng_, 20 * kTestBucketSize);
        write_whole(path("c"), clean);
        {
            EngineFile c(set, path("c"));
            EXPECT_TRUE(c.read_chunked(0, clean.size()) == clean);
        }
        std::string data = random_bytes(rng_, 16 * kTestBucketSize);
        for (std::uint64_t off = 0; off < data.size(); off += kTestBucketSize) {
            a.write(off, data.substr(off, kTestBucketSize));
            set.run_background_until_idle();
        }
        EXPECT_TRUE(set.fsync(*a.state, a.backing.fd(), false));
        EXPECT_TRUE(set.set_mode(CacheMode::writearound));
        (void)fragment(a, data, 10);
        return data;
    }
};

TEST_F(MovingGcDirtyTest, MovedDirtyDataStaysDirtyAndIsWrittenBackExactly) {
    format_cache(64);
    open_set(wb_options());
    write_whole(path("a"), "");
    EngineFile a(*set_, path("a"));
    const std::string data = dirty_fragmented(*set_, a);
    ASSERT_TRUE(set_->run_gc());
    const std::uint64_t dirty_before = set_->stats().dirty_data;
    ASSERT_EQ(dirty_before, 16 * 6 * kTestBlockSize);
    auto before = set_->index().lookup(a.state->record.file_id, 0, data.size());
    ASSERT_TRUE(before);

    set_->gc().moving().set_tunables(MovingGcTunables{true});
    settle();
    EXPECT_GT(set_->stats().moved_bytes, 0u);
    EXPECT_EQ(set_->stats().dirty_data, dirty_before);
    auto after = set_->index().lookup(a.state->record.file_id, 0, data.size());
    ASSERT_TRUE(after);
    std::uint64_t dirty_bytes = 0;
    std::set<std::uint64_t> old_buckets, new_buckets;
    for (const Extent& e : before.value()) old_buckets.insert(e.value.bucket);
    for (const Extent& e : after.value()) {
        EXPECT_TRUE(e.value.dirty()) << "at " << e.start();
        dirty_bytes += e.value.length;
        new_buckets.insert(e.value.bucket);
        EXPECT_EQ(set_->alloc().device(0).bucket(e.value.bucket).mark, GcMark::dirty);
    }
    EXPECT_EQ(dirty_bytes, dirty_before);
    EXPECT_LT(new_buckets.size(), old_buckets.size()) << "packed into fewer buckets";
    EXPECT_TRUE(a.read(0, data.size()) == data) << "moved dirty data reads back exactly";
    expect_consistent();

    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(set_->stats().dirty_data, 0u);
    EXPECT_TRUE(backing_read(path("a"), 0, data.size()) == data) << "and is written back exactly";
}

// A read looked dirty extents up; before it reads them, moving GC moves
// them and their old buckets are reused. The read finds them again in their
// new place: it neither fails nor returns the buckets' new contents.
TEST_F(MovingGcDirtyTest, AReadOfDataMovedUnderItFindsItInItsNewPlace) {
    format_cache(64);
    MoveUnder m;
    CacheSetOptions o = wb_options();
    const std::string other = random_bytes(rng_, 30 * kTestBucketSize);
    o.hooks.after_read_lookup = move_under(m, other);
    open_set(std::move(o));
    write_whole(path("a"), "");
    write_whole(path("d"), other);
    EngineFile a(*set_, path("a"));
    const std::string data = dirty_fragmented(*set_, a);
    ASSERT_TRUE(set_->set_mode(CacheMode::writeback));
    const std::string got = a.read(0, data.size());
    ASSERT_TRUE(m.done);
    EXPECT_GT(set_->stats().moved_bytes, 0u);
    ASSERT_GT(reused_buckets(m), 0u) << "no bucket the read looked up was reused";
    EXPECT_TRUE(got == data);
    expect_consistent();
}

// The same under a foreground writeback (as a copy_file_range or a direct
// write over dirty data does): it writes the moved data back and cleans it
// in its new place, neither failing nor leaving it dirty.
TEST_F(MovingGcDirtyTest, AWriteBackOfDataMovedUnderItFindsItInItsNewPlace) {
    format_cache(64);
    MoveUnder m;
    CacheSetOptions o = wb_options();
    const std::string other = random_bytes(rng_, 30 * kTestBucketSize);
    o.hooks.after_write_back_lookup = move_under(m, other);
    open_set(std::move(o));
    write_whole(path("a"), "");
    write_whole(path("d"), other);
    EngineFile a(*set_, path("a"));
    const std::string data = dirty_fragmented(*set_, a);
    ASSERT_TRUE(set_->set_mode(CacheMode::writeback));
    auto st = set_->write_back_range(*a.state, a.backing.fd(), 0, data.size());
    ASSERT_TRUE(m.done);
    EXPECT_TRUE(st) << st.error().message;
    EXPECT_GT(set_->stats().moved_bytes, 0u);
    ASSERT_GT(reused_buckets(m), 0u) << "no bucket the writeback looked up was reused";
    EXPECT_TRUE(backing_read(path("a"), 0, data.size()) == data);
    EXPECT_EQ(set_->stats().dirty_data, 0u) << "cleaned in its new place";
    auto record = set_->index().get_dirty_file(a.state->record.file_id);
    ASSERT_TRUE(record);
    EXPECT_FALSE(record.value().has_value());
    EXPECT_TRUE(a.read(0, data.size()) == data);
    expect_consistent();
}

// Power loss right after a move is committed: the cache device loses every
// write it had not flushed. The moved dirty data was made durable before its entry
// was, so nothing fsync acknowledged is lost and nothing stale is served.
TEST_F(MovingGcDirtyTest, APowerLossAfterAMoveLosesNoAcknowledgedDirtyData) {
    format_cache(64);
    write_whole(path("a"), "");
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        Logger quiet{LogLevel::error};
        CacheSetOptions o = wb_options();
        // The power fails right after the first swap: the index keeps what
        // it wrote, the device loses what it had not flushed.
        CacheSet* live = nullptr;
        FaultyDevice* dev = nullptr;
        o.hooks.after_move_commit = [&] {
            if (live->stats().moved_bytes == 0) ::_exit(6);
            if (!dev->crash()) ::_exit(7);
            ::_exit(0);
        };
        const auto opened = open_faulty_in_child(std::move(o), dev, quiet);
        CacheSet& set = *opened;
        live = &set;
        EngineFile a(set, path("a"));
        const std::string data = dirty_fragmented(set, a);
        // The overwrites went to the backing file: fsync'ed too.
        if (!set.fsync(*a.state, a.backing.fd(), false)) ::_exit(4);
        write_whole(path("expect"), data);
        set.gc().moving().set_tunables(MovingGcTunables{true});
        if (!set.run_gc()) ::_exit(5);
        set.run_background_until_idle();
        ::_exit(8);  // moving GC never committed a move
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed at step " << WEXITSTATUS(status);

    const std::string expect = backing_read(path("expect"), 0, 16 * kTestBucketSize);
    ASSERT_EQ(expect.size(), 16 * kTestBucketSize);
    open_set(wb_options());
    EXPECT_FALSE(set_->opened_clean());
    EXPECT_EQ(set_->stats().dirty_data, 16 * 6 * kTestBlockSize) << "no dirty data dropped";
    {
        EngineFile a(*set_, path("a"));
        EXPECT_TRUE(a.read(0, expect.size()) == expect) << "fsync acknowledged it; nothing stale";
    }
    expect_consistent();
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_TRUE(backing_read(path("a"), 0, expect.size()) == expect);
}

}  // namespace
}  // namespace bcl::test
