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
