#include <gtest/gtest.h>

#include <vector>

#include "bcachefs_lite/alloc/bucket_table.h"
#include "bcachefs_lite/alloc/cache_allocator.h"
#include "test_support.h"

namespace bcl {
namespace {

TEST(BucketTable, BucketIsSmall) {
    EXPECT_LE(sizeof(Bucket), 16u);
    EXPECT_EQ(sizeof(Bucket), 10u);
}

TEST(BucketTable, ValidateRefusesBadGeometry) {
    EXPECT_TRUE(BucketTable::validate(Geometry{64, 1, 16, 2}));
    EXPECT_EQ(BucketTable::validate(Geometry{64, 64, 16, 2}).error().code, Errc::invalid);
    EXPECT_EQ(BucketTable::validate(Geometry{64, 1, 24, 2}).error().code, Errc::invalid);
    EXPECT_EQ(BucketTable::validate(Geometry{64, 1, 32768, 2}).error().code, Errc::invalid);
    EXPECT_EQ(BucketTable::validate(Geometry{64, 1, 16, 32}).error().code, Errc::invalid);
    EXPECT_EQ(BucketTable::validate(Geometry{0, 0, 16, 2}).error().code, Errc::invalid);
    EXPECT_TRUE(BucketTable::validate(Geometry{64, 0, kMaxBucketSectors, 8}));
    EXPECT_TRUE(BucketTable::validate(Geometry{std::uint64_t{1} << 32, 1, 16, 2}));
    EXPECT_EQ(BucketTable::validate(Geometry{(std::uint64_t{1} << 32) + 1, 1, 16, 2}).error().code, Errc::invalid);
}

TEST(BucketTable, FreelistSizesFollowBcache) {
    // free = roundup_pow_of_two(nbuckets) >> 10, at least kMinFree; with
    // buckets of 1 MiB the burst term (16 of them, but at most nbuckets/32)
    // decides only in between.
    const auto sizes = [](std::uint64_t nbuckets) { return freelist_sizes(Geometry{nbuckets, 1, 2048, 8}); };
    auto s = sizes(4u << 20);
    EXPECT_EQ(s.free, 4096u);
    EXPECT_EQ(s.free_inc, 4096u << 2);
    EXPECT_EQ(s.heap, 4096u << 3);
    s = sizes(3000000);  // rounds up to 4M
    EXPECT_EQ(s.free, 4096u);
    s = sizes(64);
    EXPECT_EQ(s.free, kMinFree);
    EXPECT_EQ(s.free_inc, kMinFree << 2);
    EXPECT_EQ(s.heap, kMinFree << 3);
}

TEST(BucketTable, FreelistsHoldABurstOfInsertsWhereTheCacheHasRoom) {
    // 4096 buckets of 512 KiB: bcache's 4 would hold 2 MiB; 16 MiB is 32.
    auto s = freelist_sizes(Geometry{4096, 1, 1024, 8});
    EXPECT_EQ(s.free, 32u);
    EXPECT_EQ(s.free_inc, 32u << 2);
    EXPECT_EQ(s.heap, 32u << 3);
    // Never more than 1/32 of the buckets: 1024 of 64 KiB give 32, not 256.
    EXPECT_EQ(freelist_sizes(Geometry{1024, 1, 128, 8}).free, 32u);
    // Buckets of 16 MiB need one; bcache's term and kMinFree stay.
    EXPECT_EQ(freelist_sizes(Geometry{4096, 1, 32768, 8}).free, kMinFree);
    EXPECT_EQ(freelist_sizes(Geometry{1u << 20, 1, 32768, 8}).free, 1024u);
}

TEST(BucketTable, IncGenRaisesNeedGc) {
    BucketTable t(test::small_geometry());
    EXPECT_EQ(t.need_gc(), 0);
    EXPECT_EQ(t.inc_gen(5), 1);
    EXPECT_EQ(t.inc_gen(5), 2);
    EXPECT_EQ(t.need_gc(), 2);
    EXPECT_EQ(t.inc_gen(6), 1);
    EXPECT_EQ(t.need_gc(), 2);  // a max, not the last
}

TEST(BucketTable, GenGuardAt96) {
    BucketTable t(test::small_geometry());
    t.gc_finish();
    // gen wraps around 255 -> 0: the distance is what counts.
    std::vector<BucketGenPrio> load{{10, 40, kInitialPrio}};
    ASSERT_TRUE(t.load(load));
    t.gc_finish();
    t.set_last_gc(10, 201);  // 40 - 201 = 95 (mod 256)
    EXPECT_EQ(t.gc_gen(10), 95);
    EXPECT_TRUE(t.can_inc_bucket_gen(10));
    EXPECT_TRUE(t.can_invalidate(10));
    t.invalidate_one(10);
    EXPECT_EQ(t[10].gen, 41);
    EXPECT_EQ(t.gc_gen(10), 96);
    EXPECT_EQ(t.need_gc(), 96);
    t.pin_put(10);
    EXPECT_FALSE(t.can_inc_bucket_gen(10));
    EXPECT_FALSE(t.can_invalidate(10));
    // GC makes last_gc catch up.
    t.gc_start();
    t.gc_finish();
    EXPECT_EQ(t.gc_gen(10), 0);
    EXPECT_EQ(t.need_gc(), 0);
    EXPECT_TRUE(t.can_invalidate(10));
}

TEST(BucketTable, CanInvalidateNeedsValidMarksUnpinnedClean) {
    BucketTable t(test::small_geometry());
    EXPECT_FALSE(t.can_invalidate(3));  // GC marks not valid yet
    t.gc_finish();
    EXPECT_TRUE(t.can_invalidate(3));
    t.gc_mark(3, GcMark::reclaimable, 4);
    EXPECT_TRUE(t.can_invalidate(3));
    t.gc_mark(3, GcMark::dirty, 4);
    EXPECT_FALSE(t.can_invalidate(3));
    EXPECT_EQ(t[3].sectors_used, 8);
    t.gc_mark(4, GcMark::pinned, 100);
    EXPECT_FALSE(t.can_invalidate(4));
    EXPECT_EQ(t[4].sectors_used, 16);  // saturates at the bucket size
    t.pin_get(5);
    EXPECT_FALSE(t.can_invalidate(5));
    t.pin_put(5);
    EXPECT_TRUE(t.can_invalidate(5));
    t.gc_start();
    EXPECT_FALSE(t.can_invalidate(5));
}

TEST(BucketTable, InvalidateOneBumpsGenResetsPrioPins) {
    BucketTable t(test::small_geometry());
    t.gc_finish();
    t.set_prio(7, 100);
    t.invalidate_one(7);
    EXPECT_EQ(t[7].gen, 1);
    EXPECT_EQ(t.prio(7), kInitialPrio);
    EXPECT_EQ(t.pin(7), 1);
}

TEST(BucketTable, BucketPrioScalesFromMinPrio) {
    BucketTable t(test::small_geometry());
    t.gc_finish();
    for (std::uint64_t b = 2; b < 64; ++b) t.set_prio(b, 1000);
    t.set_prio(3, 200);
    t.recompute_min_prio();
    ASSERT_EQ(t.min_prio(), 200);
    t.gc_mark(3, GcMark::reclaimable, 10);
    t.gc_mark(4, GcMark::reclaimable, 10);
    // (prio - min_prio + (kInitialPrio - min_prio) / 8 + 1) * sectors
    const std::uint64_t base = (kInitialPrio - 200) / 8 + 1;
    EXPECT_EQ(t.bucket_prio(3), (0 + base) * 10);
    EXPECT_EQ(t.bucket_prio(4), (800 + base) * 10);
    EXPECT_EQ(t.bucket_prio(5), 0u);  // nothing live: free to take
    // A prio below min_prio does not wrap around.
    t.set_prio(6, 0);
    t.gc_mark(6, GcMark::reclaimable, 10);
    EXPECT_EQ(t.bucket_prio(6), (base - 200) * 10);
}

TEST(BucketTable, BucketPrioCountsSectorsWhenAllPriosAreEqual) {
    // A new cache: every prio is kInitialPrio, so min_prio is too. Live
    // sectors must still make a full bucket dearer than an empty one.
    BucketTable t(test::small_geometry());
    t.gc_finish();
    t.recompute_min_prio();
    ASSERT_EQ(t.min_prio(), kInitialPrio);
    t.gc_mark(3, GcMark::reclaimable, 10);
    t.gc_mark(4, GcMark::reclaimable, 20);
    EXPECT_EQ(t.bucket_prio(5), 0u);
    EXPECT_GT(t.bucket_prio(3), t.bucket_prio(5));
    EXPECT_GT(t.bucket_prio(4), t.bucket_prio(3));
}

TEST(BucketTable, AgePriosSkipsZeroMaxAndPinned) {
    BucketTable t(test::small_geometry());
    for (std::uint64_t b = 2; b < 64; ++b) t.set_prio(b, 500);
    t.set_prio(2, 0);
    t.set_prio(3, kBtreePrio);
    t.set_prio(4, 300);
    t.pin_get(5);
    t.age_prios();
    EXPECT_EQ(t.prio(2), 0);
    EXPECT_EQ(t.prio(3), kBtreePrio);
    EXPECT_EQ(t.prio(4), 299);
    EXPECT_EQ(t.prio(5), 500);
    EXPECT_EQ(t.prio(6), 499);
    EXPECT_EQ(t.min_prio(), 0);
    t.set_prio(2, 400);
    t.age_prios();
    EXPECT_EQ(t.min_prio(), 298);
}

TEST(BucketTable, LoadInstallsGensAndRejectsOutOfRange) {
    BucketTable t(test::small_geometry());
    t.gc_finish();
    std::vector<BucketGenPrio> good{{2, 7, 100}, {63, 200, 9000}};
    ASSERT_TRUE(t.load(good));
    EXPECT_EQ(t[2].gen, 7);
    EXPECT_EQ(t[2].last_gc, 7);
    EXPECT_EQ(t.prio(63), 9000);
    EXPECT_EQ(t.min_prio(), 100);
    EXPECT_FALSE(t.gc_mark_valid());
    std::vector<BucketGenPrio> bad{{64, 1, 1}};
    EXPECT_EQ(t.load(bad).error().code, Errc::invalid);
}

TEST(BucketTable, GcStartKeepsPinnedBucketsMarks) {
    BucketTable t(test::small_geometry());
    t.gc_mark(3, GcMark::dirty, 8);
    t.gc_mark(4, GcMark::dirty, 8);
    t.pin_get(4);
    t.inc_gen(3);
    t.gc_start();
    EXPECT_EQ(t[3].mark, GcMark::unused);
    EXPECT_EQ(t[3].sectors_used, 0);
    EXPECT_EQ(t[3].last_gc, t[3].gen);
    EXPECT_EQ(t[4].mark, GcMark::dirty);
    EXPECT_EQ(t[4].sectors_used, 8);
}

}  // namespace
}  // namespace bcl
