// Foreground: what an allocated bucket looks like, waiting allocations,
// pins, hits and frees.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "allocator_test_fixture.h"

namespace bcl {
namespace {

class BucketAlloc : public ::testing::Test, protected test::AllocatorFixture {};

TEST_F(BucketAlloc, AllocatedBucketIsPinnedReclaimableAndFull) {
    make();
    start_and_refill();
    const std::uint64_t b = a_->bucket_alloc(Reserve::none, false).value();
    const BucketInfo info = a_->bucket(b);
    EXPECT_EQ(info.pin, 1);
    EXPECT_EQ(info.mark, GcMark::reclaimable);
    EXPECT_EQ(info.prio, kInitialPrio);
    EXPECT_EQ(info.sectors_used, 16);
    EXPECT_EQ(info.gen, 1);
    EXPECT_EQ(store_.durable_gen(0, b), info.gen);
    EXPECT_EQ(a_->stats().allocs, 1u);
    // While pinned it is never invalidated, whatever its mark.
    a_->bucket_free(b);
    EXPECT_EQ(a_->bucket(b).mark, GcMark::unused);
    EXPECT_EQ(a_->bucket(b).sectors_used, 0);
    EXPECT_EQ(a_->bucket(b).pin, 1);
    a_->put(b);
    EXPECT_EQ(a_->bucket(b).pin, 0);
}

TEST_F(BucketAlloc, WaitingAllocationWakesOnRefill) {
    make();
    auto waiter = std::async(std::launch::async, [&] { return a_->bucket_alloc(Reserve::none, true); });
    ASSERT_TRUE(test::eventually([&] { return a_->waiters() == 1; }));
    EXPECT_EQ(waiter.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
    // The allocator can refill only once GC marks are valid; drive it.
    a_->gc_finish();
    exec_.run_until_idle();
    ASSERT_EQ(waiter.wait_for(test::kTimeout), std::future_status::ready);
    auto r = waiter.get();
    ASSERT_TRUE(r);
    EXPECT_EQ(a_->bucket(r.value()).pin, 1);
    EXPECT_EQ(a_->stats().alloc_waits, 1u);
    EXPECT_EQ(a_->waiters(), 0u);
}

TEST_F(BucketAlloc, WaitingAllocationWakesOnShutdown) {
    make();
    auto w1 = std::async(std::launch::async, [&] { return a_->bucket_alloc(Reserve::none, true); });
    auto w2 = std::async(std::launch::async, [&] { return a_->bucket_alloc(Reserve::movinggc, true); });
    ASSERT_TRUE(test::eventually([&] { return a_->waiters() == 2; }));
    a_->shutdown();
    ASSERT_EQ(w1.wait_for(test::kTimeout), std::future_status::ready);
    ASSERT_EQ(w2.wait_for(test::kTimeout), std::future_status::ready);
    EXPECT_EQ(w1.get().error().code, Errc::shutdown);
    EXPECT_EQ(w2.get().error().code, Errc::shutdown);
    EXPECT_EQ(a_->bucket_alloc(Reserve::none, true).error().code, Errc::shutdown);
}

TEST_F(BucketAlloc, PinChecksGenAndKeepsBucketFromInvalidation) {
    make();
    EXPECT_TRUE(a_->pin(2, 0));
    EXPECT_EQ(a_->pin(3, 1).error().code, Errc::stale);
    EXPECT_EQ(a_->pin(64, 0).error().code, Errc::invalid);
    a_->set_replacement(Replacement::fifo);
    start_and_refill();
    EXPECT_EQ(a_->bucket(2).gen, 0);  // skipped
    EXPECT_EQ(a_->bucket(3).gen, 1);
    a_->dup_pin(2);
    EXPECT_EQ(a_->bucket(2).pin, 2);
    a_->put(2);
    a_->put(2);
    EXPECT_EQ(a_->bucket(2).pin, 0);
}

// gc_mark_many answers as gc_mark and ptr_stale do, one pointer after the
// other: marks add up (the larger mark, sectors capped at the bucket's),
// a wrong gen or a bucket out of range is not counted, and the old gen of a
// bucket waiting for reuse is not counted but still read.
TEST_F(BucketAlloc, MarkingManyPointersAnswersAsMarkingEachOne) {
    make();
    start_and_refill();
    const std::uint64_t waiting = a_->freelist(Reserve::none).front();
    const std::uint8_t old_gen = a_->bucket(waiting).read_gen;
    ASSERT_NE(old_gen, a_->bucket(waiting).gen);
    std::vector<std::uint64_t> idle;  // buckets no freelist holds
    for (std::uint64_t b = 2; b < 64 && idle.size() < 3; ++b)
        if (a_->bucket(b).pin == 0) idle.push_back(b);
    ASSERT_EQ(idle.size(), 3u);
    const std::uint64_t x = idle[0], y = idle[1], z = idle[2];
    const std::uint8_t gx = a_->bucket(x).gen, gy = a_->bucket(y).gen, gz = a_->bucket(z).gen;
    a_->gc_start();
    std::vector<CacheAllocator::GcPtrMark> ptrs = {
        {x, gx, GcMark::reclaimable, 4},
        {x, gx, GcMark::dirty, 8},
        {x, gx, GcMark::reclaimable, 8},
        {y, gy, GcMark::pinned, 2},
        {z, static_cast<std::uint8_t>(gz + 1), GcMark::dirty, 8},
        {64, 0, GcMark::dirty, 8},
        {waiting, old_gen, GcMark::reclaimable, 8},
    };
    a_->gc_mark_many(ptrs);
    a_->gc_finish();
    const bool counted[] = {true, true, true, true, false, false, false};
    const bool readable[] = {true, true, true, true, false, false, true};
    for (std::size_t i = 0; i < ptrs.size(); ++i) {
        EXPECT_EQ(ptrs[i].counted, counted[i]) << i;
        EXPECT_EQ(ptrs[i].readable, readable[i]) << i;
        EXPECT_EQ(ptrs[i].readable, !a_->ptr_stale(ptrs[i].bucket, ptrs[i].gen)) << i;
    }
    EXPECT_EQ(a_->bucket(x).mark, GcMark::dirty);
    EXPECT_EQ(a_->bucket(x).sectors_used, 16) << "capped at the bucket's 16 sectors";
    EXPECT_EQ(a_->bucket(y).mark, GcMark::pinned);
    EXPECT_EQ(a_->bucket(y).sectors_used, 2);
    EXPECT_EQ(a_->bucket(z).mark, GcMark::unused);
}

TEST_F(BucketAlloc, HitRaisesPrio) {
    make();
    std::vector<BucketGenPrio> persisted{{9, 3, 100}, {10, 3, 200}};
    ASSERT_TRUE(a_->load(persisted));
    a_->bucket_hit(9);
    EXPECT_EQ(a_->bucket(9).prio, kInitialPrio);
    EXPECT_EQ(a_->bucket(10).prio, 200);
}

TEST_F(BucketAlloc, CreateRefusesBadGeometry) {
    auto r = CacheAllocator::create(0, Geometry{64, 1, 48, 2}, store_, exec_.executor());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::invalid);
}

TEST_F(BucketAlloc, ConcurrentAllocAndFreeAccountForEveryBucket) {
    // Two threads allocate and free while a third runs the task: no bucket
    // is handed out twice at once (pin stays 1 while held).
    // GC, asked for when the gen guard stops invalidation, runs on the
    // task's thread.
    std::atomic<bool> gc_wanted{false};
    AllocatorOptions opts;
    opts.wake_gc = [&] { gc_wanted = true; };
    make(std::move(opts));
    a_->gc_finish();
    std::atomic<bool> stop{false};
    std::thread task([&] {
        while (!stop.load()) {
            if (gc_wanted.exchange(false)) {
                a_->gc_start();
                a_->gc_finish();
            }
            if (exec_.run_until_idle() == 0) std::this_thread::yield();
        }
    });
    std::atomic<int> errors{0};
    auto worker = [&] {
        for (int i = 0; i < 2000; ++i) {
            auto b = a_->bucket_alloc(Reserve::none, true);
            if (!b) {
                ++errors;
                return;
            }
            if (a_->bucket(b.value()).pin != 1) ++errors;
            a_->bucket_free(b.value());
            a_->put(b.value());
        }
    };
    std::thread t1(worker), t2(worker);
    t1.join();
    t2.join();
    stop = true;
    task.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(a_->stats().allocs, 4000u);
}

}  // namespace
}  // namespace bcl
