// The background task: refill order, persistence before use, discard,
// invalidate_needs_gc, one step queued at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "allocator_test_fixture.h"

namespace bcl {
namespace {

class AllocatorTask : public ::testing::Test, protected test::AllocatorFixture {};

std::vector<std::uint64_t> buckets_of(const std::vector<BucketGenPrio>& batch) {
    std::vector<std::uint64_t> v;
    for (const auto& e : batch) v.push_back(e.bucket);
    return v;
}

std::vector<std::uint64_t> slice(const std::vector<std::uint64_t>& v, std::size_t from, std::size_t to) {
    return {v.begin() + static_cast<std::ptrdiff_t>(from), v.begin() + static_cast<std::ptrdiff_t>(to)};
}

TEST_F(AllocatorTask, NothingBeforeTheFirstGc) {
    make();
    a_->wake();
    exec_.run_until_idle();
    EXPECT_TRUE(none().empty());
    EXPECT_TRUE(a_->free_inc().empty());
    EXPECT_EQ(store_.batches(), 0u);
    EXPECT_EQ(a_->bucket_alloc(Reserve::none, false).error().code, Errc::again);
}

TEST_F(AllocatorTask, RefillPersistsOneBatchThenFillsReservesInOrder) {
    make();
    ASSERT_EQ(a_->sizes().free, 4u);
    ASSERT_EQ(a_->sizes().free_inc, 16u);
    start_and_refill();
    ASSERT_EQ(store_.batches(), 1u);
    const auto batch = store_.batch(0);
    ASSERT_EQ(batch.size(), 16u);  // the whole of free_inc, at once
    for (const auto& e : batch) {
        EXPECT_EQ(e.gen, 1);
        EXPECT_EQ(e.prio, kInitialPrio);
    }
    const auto order = buckets_of(batch);
    // free[movinggc] fills first; once it is full each new bucket takes the
    // place of its oldest, which moves on to free[none]: the reserve stays
    // full and buckets are handed out in the order they were invalidated.
    // The rest waits on free_inc.
    EXPECT_EQ(none(), slice(order, 0, 4));
    EXPECT_EQ(movinggc(), slice(order, 4, 8));
    EXPECT_EQ(a_->free_inc(), slice(order, 8, 16));
    EXPECT_TRUE(a_->free_inc_durable());
    EXPECT_EQ(a_->stats().invalidated, 16u);
}

TEST_F(AllocatorTask, FastPathTakesNoneThenTheReserve) {
    make();
    start_and_refill();
    const auto order = buckets_of(store_.batch(0));
    for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(a_->bucket_alloc(Reserve::none, false).value(), order[i]);
    // free[none] is empty: a plain allocation may not dip into the reserve.
    EXPECT_EQ(a_->bucket_alloc(Reserve::none, false).error().code, Errc::again);
    EXPECT_EQ(a_->bucket_alloc(Reserve::movinggc, false).value(), order[4]);
    // The refill tops up free[movinggc] first, then rotates it: its oldest
    // buckets move on to free[none].
    exec_.run_until_idle();
    EXPECT_EQ(none(), slice(order, 5, 9));
    EXPECT_EQ(movinggc(), slice(order, 9, 13));
    EXPECT_EQ(a_->free_inc(), slice(order, 13, 16));
    // And movinggc allocations take free[none] first.
    EXPECT_EQ(a_->bucket_alloc(Reserve::movinggc, false).value(), order[5]);
}

TEST_F(AllocatorTask, NoBucketReachesAFreelistWhilePersistIsHeldBack) {
    make();
    store_.hold();
    a_->gc_finish();
    std::thread runner([&] { exec_.run_until_idle(); });
    ASSERT_TRUE(store_.wait_entered(1));
    // Invalidated, not durable: nowhere to allocate from.
    EXPECT_EQ(a_->free_inc().size(), 16u);
    EXPECT_FALSE(a_->free_inc_durable());
    EXPECT_TRUE(none().empty());
    EXPECT_TRUE(movinggc().empty());
    EXPECT_EQ(a_->bucket_alloc(Reserve::movinggc, false).error().code, Errc::again);
    store_.release();
    runner.join();
    ASSERT_EQ(none().size(), 4u);
    for (std::uint64_t b : none()) EXPECT_EQ(store_.durable_gen(0, b), a_->bucket(b).gen);
    for (std::uint64_t b : movinggc()) EXPECT_EQ(store_.durable_gen(0, b), a_->bucket(b).gen);
}

TEST_F(AllocatorTask, FailedPersistKeepsBatchOnFreeIncUntilTheNextWake) {
    make();
    store_.fail_next(1);
    start_and_refill();
    EXPECT_EQ(a_->stats().persist_failures, 1u);
    EXPECT_EQ(store_.failed(), 1);
    const auto stuck = a_->free_inc();
    EXPECT_EQ(stuck.size(), 16u);
    EXPECT_FALSE(a_->free_inc_durable());
    EXPECT_TRUE(none().empty());
    // No retry loop of its own.
    EXPECT_EQ(exec_.run_until_idle(), 0u);
    EXPECT_EQ(a_->handlers_outstanding(), 0);
    // The next wake retries the same batch, without invalidating again.
    a_->wake();
    exec_.run_until_idle();
    ASSERT_EQ(store_.batches(), 1u);
    EXPECT_EQ(buckets_of(store_.batch(0)), stuck);
    for (const auto& e : store_.batch(0)) EXPECT_EQ(e.gen, 1);
    EXPECT_EQ(none().size(), 4u);
    EXPECT_EQ(a_->stats().invalidated, 16u);
}

TEST_F(AllocatorTask, DiscardsAfterPersistAndAFailureDoesNotStopTheBucket) {
    struct Seen {
        std::uint64_t bucket;
        std::size_t batches;
    };
    std::vector<Seen> seen;  // written on the step, read after run_until_idle
    AllocatorOptions opts;
    opts.discard = [&](std::uint64_t b) -> Status {
        seen.push_back({b, store_.batches()});
        if (seen.size() == 1) return make_error(Errc::io, "injected discard failure");
        return ok();
    };
    make(std::move(opts));
    start_and_refill();
    ASSERT_EQ(seen.size(), 8u);  // the 8 that reached a freelist, no more
    for (const Seen& s : seen) EXPECT_EQ(s.batches, 1u);
    std::vector<std::uint64_t> discarded;
    for (const Seen& s : seen) discarded.push_back(s.bucket);
    auto lists = none();  // the oldest: see RefillPersistsOneBatchThenFillsReservesInOrder
    for (auto b : movinggc()) lists.push_back(b);
    EXPECT_EQ(discarded, lists);
    EXPECT_EQ(a_->stats().discards, 8u);
    EXPECT_EQ(a_->stats().discard_failures, 1u);
    EXPECT_EQ(none().front(), seen.front().bucket);
}

TEST_F(AllocatorTask, NothingToInvalidateWakesGcOnceAndGcClearsIt) {
    int gc_wakeups = 0;
    AllocatorOptions opts;
    opts.wake_gc = [&] { ++gc_wakeups; };
    make(std::move(opts));
    for (std::uint64_t b = 2; b < 64; ++b) ASSERT_TRUE(a_->gc_mark(b, 0, GcMark::dirty, 16));
    start_and_refill();
    EXPECT_TRUE(a_->invalidate_needs_gc());
    EXPECT_EQ(gc_wakeups, 1);
    EXPECT_EQ(store_.batches(), 0u);
    // Woken again, it does not scan again.
    a_->wake();
    EXPECT_EQ(exec_.run_until_idle(), 1u);
    EXPECT_EQ(gc_wakeups, 1);
    EXPECT_EQ(a_->stats().invalidated, 0u);
    // GC finds most of it written back: all but 5 buckets stay dirty.
    a_->gc_start();
    for (std::uint64_t b = 7; b < 64; ++b) ASSERT_TRUE(a_->gc_mark(b, 0, GcMark::dirty, 16));
    a_->gc_finish();
    EXPECT_FALSE(a_->invalidate_needs_gc());
    exec_.run_until_idle();
    // The 5 are invalidated, persisted as a partial batch, and handed out;
    // the task asked GC again rather than holding them.
    ASSERT_EQ(store_.batches(), 1u);
    EXPECT_EQ(store_.batch(0).size(), 5u);
    EXPECT_EQ(movinggc().size(), 4u);
    EXPECT_EQ(none().size(), 1u);
    EXPECT_TRUE(a_->invalidate_needs_gc());
    EXPECT_EQ(gc_wakeups, 2);
}

TEST_F(AllocatorTask, NeverTwoStepsQueued) {
    make();
    a_->gc_finish();
    EXPECT_EQ(a_->handlers_outstanding(), 1);
    for (int i = 0; i < 100; ++i) a_->wake();
    EXPECT_EQ(a_->handlers_outstanding(), 1);
    // One step (invalidate) queues the next (persist), one at a time.
    EXPECT_EQ(exec_.run_one(), 1u);
    EXPECT_EQ(a_->free_inc().size(), 16u);
    EXPECT_EQ(store_.batches(), 0u);
    EXPECT_EQ(a_->handlers_outstanding(), 1);
    EXPECT_EQ(exec_.run_one(), 1u);
    EXPECT_EQ(store_.batches(), 1u);
    EXPECT_TRUE(none().empty());
    EXPECT_EQ(exec_.run_one(), 1u);
    EXPECT_EQ(none().size(), 4u);
    EXPECT_EQ(a_->handlers_outstanding(), 0);
    EXPECT_EQ(exec_.run_until_idle(), 0u);
}

TEST_F(AllocatorTask, ReplacementSwitchesAtRuntime) {
    make();
    a_->set_replacement(Replacement::fifo);
    EXPECT_EQ(a_->replacement(), Replacement::fifo);
    start_and_refill();
    std::vector<std::uint64_t> expected;
    for (std::uint64_t b = 2; b < 18; ++b) expected.push_back(b);
    EXPECT_EQ(buckets_of(store_.batch(0)), expected);
}

TEST_F(AllocatorTask, LoadedGensAreBumpedAndLoadIsRefusedAfterGc) {
    make();
    std::vector<BucketGenPrio> persisted;
    for (std::uint64_t b = 0; b < 64; ++b) persisted.push_back({b, static_cast<std::uint8_t>(b + 100), 500});
    ASSERT_TRUE(a_->load(persisted));
    EXPECT_EQ(a_->min_prio(), 500);
    start_and_refill();
    for (const auto& e : store_.batch(0)) EXPECT_EQ(e.gen, static_cast<std::uint8_t>(e.bucket + 101));
    EXPECT_EQ(a_->load(persisted).error().code, Errc::busy);
}

TEST_F(AllocatorTask, MountMarkingKeepsDirtyAndPinnedBuckets) {
    make();
    ASSERT_TRUE(a_->gc_mark(3, 0, GcMark::dirty, 8));
    ASSERT_TRUE(a_->gc_mark(4, 0, GcMark::pinned, 16));
    ASSERT_TRUE(a_->gc_mark(5, 0, GcMark::reclaimable, 16));
    EXPECT_EQ(a_->gc_mark(6, 9, GcMark::dirty, 8).error().code, Errc::stale);
    EXPECT_EQ(a_->gc_mark(64, 0, GcMark::dirty, 8).error().code, Errc::invalid);
    a_->set_replacement(Replacement::fifo);
    start_and_refill();
    const auto order = buckets_of(store_.batch(0));
    EXPECT_EQ(std::count(order.begin(), order.end(), 3u), 0);
    EXPECT_EQ(std::count(order.begin(), order.end(), 4u), 0);
    EXPECT_EQ(std::count(order.begin(), order.end(), 5u), 1);
    EXPECT_EQ(std::count(order.begin(), order.end(), 6u), 1);
    EXPECT_EQ(a_->bucket(3).sectors_used, 8);
}

TEST_F(AllocatorTask, ShutdownWaitsForARunningPersist) {
    make();
    store_.hold();
    a_->gc_finish();
    std::thread runner([&] { exec_.run_until_idle(); });
    ASSERT_TRUE(store_.wait_entered(1));
    std::thread stopper([&] { a_->shutdown(); });
    store_.release();
    stopper.join();
    runner.join();
    // shutdown() returned only after the persist did; nothing runs after.
    EXPECT_EQ(store_.batches(), 1u);
    EXPECT_EQ(a_->bucket_alloc(Reserve::none, false).error().code, Errc::shutdown);
    EXPECT_EQ(exec_.run_until_idle(), 0u);
    EXPECT_EQ(a_->handlers_outstanding(), 0);
}

}  // namespace
}  // namespace bcl
