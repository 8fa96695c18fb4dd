#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "bcachefs_lite/alloc/bucket_table.h"
#include "bcachefs_lite/alloc/replacement.h"
#include "bcachefs_lite/util/fifo.h"
#include "test_support.h"

namespace bcl {
namespace {

std::vector<std::uint64_t> drain(Fifo<std::uint64_t>& f) {
    std::vector<std::uint64_t> v;
    while (auto b = f.pop()) v.push_back(*b);
    return v;
}

TEST(Lru, PicksLowestPrioTimesSectorsCheapestFirst) {
    BucketTable t(Geometry{64, 2, 16, 2});
    t.gc_finish();
    // Every bucket: 16 live sectors, prio 20000 + 100 * b, except a few.
    for (std::uint64_t b = 2; b < 64; ++b) {
        t.gc_mark(b, GcMark::reclaimable, 16);
        t.set_prio(b, static_cast<std::uint16_t>(20000 + 100 * b));
    }
    t.set_prio(40, 10);  // old...
    t.set_prio(41, 5);   // ... older, but
    t[41].sectors_used = 16;
    t[40].sectors_used = 2;  // few live sectors make 40 cheaper than 41
    t.set_prio(50, 15000);
    t.recompute_min_prio();
    t.gc_mark(30, GcMark::dirty, 0);  // never
    t.pin_get(31);                    // never while pinned

    Invalidator inv(/*heap_capacity=*/8, Replacement::lru);
    Fifo<std::uint64_t> free_inc(4);
    ASSERT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::filled);
    EXPECT_EQ(drain(free_inc), (std::vector<std::uint64_t>{40, 41, 50, 2}));
    EXPECT_EQ(t[40].gen, 1);
    EXPECT_EQ(t.pin(40), 1);
    EXPECT_EQ(t.prio(40), kInitialPrio);
    EXPECT_EQ(t[3].gen, 0);
}

TEST(Lru, UnusedBucketsGoFirstAndExhaustionIsReported) {
    BucketTable t(Geometry{16, 1, 16, 2});
    t.gc_finish();
    for (std::uint64_t b = 1; b < 16; ++b) t.gc_mark(b, GcMark::dirty, 16);
    t.gc_start();
    for (std::uint64_t b = 1; b < 16; ++b)
        if (b != 4 && b != 9) t.gc_mark(b, GcMark::dirty, 16);
    t.gc_finish();
    Invalidator inv(32, Replacement::lru);
    Fifo<std::uint64_t> free_inc(8);
    EXPECT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::exhausted);
    auto got = drain(free_inc);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::uint64_t>{4, 9}));
}

TEST(Lru, PrefersEmptyBucketsWhenAllPriosAreEqual) {
    // A fresh cache: every prio is kInitialPrio. Clean data in the odd
    // buckets must outlive the empty even ones.
    BucketTable t(Geometry{32, 1, 16, 2});
    t.gc_start();
    for (std::uint64_t b = 1; b < 32; b += 2) t.gc_mark(b, GcMark::reclaimable, 16);
    t.gc_finish();
    t.recompute_min_prio();
    Invalidator inv(64, Replacement::lru);
    Fifo<std::uint64_t> free_inc(8);
    EXPECT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::filled);
    for (std::uint64_t b : drain(free_inc)) EXPECT_EQ(b % 2, 0u) << "bucket " << b << " held data";
}

TEST(Lru, SkipsBucketAtGenGuard) {
    BucketTable t(Geometry{16, 1, 16, 2});
    t.gc_finish();
    t[5].gen = 96;  // 96 ahead of last_gc 0
    Invalidator inv(32, Replacement::lru);
    Fifo<std::uint64_t> free_inc(16);
    EXPECT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::exhausted);
    auto got = drain(free_inc);
    EXPECT_EQ(got.size(), 14u);
    EXPECT_EQ(std::count(got.begin(), got.end(), 5u), 0);
    EXPECT_EQ(t[5].gen, 96);
}

TEST(Fifo, WrapsAtFirstBucketAndGivesUpAfterALap) {
    BucketTable t(Geometry{10, 3, 16, 2});
    t.gc_finish();
    Invalidator inv(32, Replacement::fifo);
    Fifo<std::uint64_t> free_inc(4);
    ASSERT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::filled);
    EXPECT_EQ(drain(free_inc), (std::vector<std::uint64_t>{3, 4, 5, 6}));
    for (std::uint64_t b : {3, 4}) t.pin_put(b);
    // 7, 8, 9, then wraps to first_bucket.
    ASSERT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::filled);
    EXPECT_EQ(drain(free_inc), (std::vector<std::uint64_t>{7, 8, 9, 3}));
    // Everything pinned now except 4: one lap finds it, then gives up.
    Fifo<std::uint64_t> big(8);
    EXPECT_EQ(inv.invalidate(t, big), Invalidator::Outcome::exhausted);
    EXPECT_EQ(drain(big), (std::vector<std::uint64_t>{4}));
}

TEST(Fifo, GivesUpAfterNbucketsChecks) {
    // Nothing can be invalidated: exactly one lap of nbuckets checks (the
    // cursor ends where it started, plus first_bucket's offset).
    BucketTable t(Geometry{10, 3, 16, 2});
    t.gc_finish();
    for (std::uint64_t b = 3; b < 10; ++b) t.gc_mark(b, GcMark::dirty, 1);
    Invalidator inv(32, Replacement::fifo);
    Fifo<std::uint64_t> free_inc(4);
    EXPECT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::exhausted);
    // 10 checks over 7 data buckets: 3..9, 3, 4, 5. Freeing 6 and 3 shows
    // where the cursor stopped: the next call checks 6 first.
    t.gc_start();
    for (std::uint64_t b = 3; b < 10; ++b)
        if (b != 6 && b != 3) t.gc_mark(b, GcMark::dirty, 1);
    t.gc_finish();
    EXPECT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::exhausted);
    EXPECT_EQ(drain(free_inc), (std::vector<std::uint64_t>{6, 3}));
}

TEST(Random, DrawsDataBucketsAndGivesUpAfterHalfTheBuckets) {
    // 64 buckets, all free, free_inc larger than the budget of 64 / 2 = 32
    // checks: exactly the buckets of the first 32 draws are invalidated.
    const std::uint64_t seed = 1234;
    BucketTable t(Geometry{64, 2, 16, 2});
    t.gc_finish();
    Invalidator inv(0, Replacement::random, seed);
    Fifo<std::uint64_t> free_inc(64);
    EXPECT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::exhausted);
    auto got = drain(free_inc);

    SplitMix64 rng(seed);
    std::vector<std::uint64_t> expected;
    for (int i = 0; i < 32; ++i) {
        const std::uint64_t b = 2 + rng.next() % 62;
        if (std::find(expected.begin(), expected.end(), b) == expected.end()) expected.push_back(b);
    }
    EXPECT_EQ(got, expected);
    // The 33rd draw was not made: the next call starts with it.
    std::uint64_t next = 2 + rng.next() % 62;
    while (std::find(expected.begin(), expected.end(), next) != expected.end()) next = 2 + rng.next() % 62;
    Fifo<std::uint64_t> one(1);
    EXPECT_EQ(inv.invalidate(t, one), Invalidator::Outcome::filled);
    EXPECT_EQ(drain(one), std::vector<std::uint64_t>{next});
}

TEST(Random, ReseedReproduces) {
    auto run = [](std::uint64_t seed) {
        BucketTable t(Geometry{1024, 1, 16, 2});
        t.gc_finish();
        Invalidator inv(0, Replacement::random, 1);
        inv.set_random_seed(seed);
        Fifo<std::uint64_t> free_inc(16);
        EXPECT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::filled);
        return drain(free_inc);
    };
    EXPECT_EQ(run(7), run(7));
    EXPECT_NE(run(7), run(8));
}

TEST(Replacement, SwitchesAtRuntime) {
    BucketTable t(Geometry{32, 1, 16, 2});
    t.gc_finish();
    for (std::uint64_t b = 1; b < 32; ++b) {
        t.gc_mark(b, GcMark::reclaimable, 16);
        t.set_prio(b, 1000);
    }
    t.recompute_min_prio();
    t[20].sectors_used = 1;  // cheapest for lru
    Invalidator inv(16, Replacement::fifo);
    Fifo<std::uint64_t> free_inc(1);
    ASSERT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::filled);
    EXPECT_EQ(drain(free_inc), std::vector<std::uint64_t>{1});
    inv.set_replacement(Replacement::lru);
    EXPECT_EQ(inv.replacement(), Replacement::lru);
    ASSERT_EQ(inv.invalidate(t, free_inc), Invalidator::Outcome::filled);
    EXPECT_EQ(drain(free_inc), std::vector<std::uint64_t>{20});
}

}  // namespace
}  // namespace bcl
