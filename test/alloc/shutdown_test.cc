// Start and stop the allocator many times with allocations blocked in it:
// it never hangs and leaves no handler behind.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <vector>

#include "bcachefs_lite/alloc/cache_allocator.h"
#include "test_support.h"

namespace bcl {
namespace {

TEST(Shutdown, ThousandStartStopsWithWaitersLeaveNoHandler) {
    test::FakeGenStore store;
    test::ManualExecutor exec;
    for (int i = 0; i < 1000; ++i) {
        AllocatorOptions opts;
        opts.replacement = static_cast<Replacement>(i % 3);
        auto r = CacheAllocator::create(0, test::small_geometry(), store, exec.executor(), std::move(opts));
        ASSERT_TRUE(r);
        std::unique_ptr<CacheAllocator> a = std::move(r).value();
        if (i % 4 == 1) {
            // Running: refilled, then drained dry so that the waiters block.
            a->gc_finish();
            exec.run_until_idle();
            while (a->bucket_alloc(Reserve::movinggc, false)) {
            }
        }
        auto w1 = std::async(std::launch::async, [&] { return a->bucket_alloc(Reserve::none, true); });
        auto w2 = std::async(std::launch::async, [&] { return a->bucket_alloc(Reserve::movinggc, true); });
        ASSERT_TRUE(test::eventually([&] { return a->waiters() == 2; })) << "iteration " << i;
        EXPECT_GE(a->handlers_outstanding(), 1);
        if (i % 2 == 0) {
            a->shutdown();
            ASSERT_EQ(w1.wait_for(test::kTimeout), std::future_status::ready);
            ASSERT_EQ(w2.wait_for(test::kTimeout), std::future_status::ready);
            EXPECT_EQ(w1.get().error().code, Errc::shutdown);
            EXPECT_EQ(w2.get().error().code, Errc::shutdown);
            // The queued step runs as a no-op; nothing is left.
            exec.run_until_idle();
            EXPECT_EQ(a->handlers_outstanding(), 0);
            a.reset();
        } else {
            // Destroyed with a step still queued: shutdown, join, destroy,
            // then the queued step runs (or would be dropped) harmlessly.
            a->shutdown();
            ASSERT_EQ(w1.wait_for(test::kTimeout), std::future_status::ready);
            ASSERT_EQ(w2.wait_for(test::kTimeout), std::future_status::ready);
            EXPECT_FALSE(w1.get());
            EXPECT_FALSE(w2.get());
            a.reset();
            EXPECT_EQ(exec.run_until_idle(), 1u);
        }
        EXPECT_EQ(exec.run_until_idle(), 0u);
        if (HasFailure()) return;
    }
}

TEST(Shutdown, WakeAfterShutdownPostsNothing) {
    test::FakeGenStore store;
    test::ManualExecutor exec;
    auto a = CacheAllocator::create(0, test::small_geometry(), store, exec.executor()).value();
    a->gc_finish();
    EXPECT_EQ(a->handlers_outstanding(), 1);
    a->shutdown();
    a->shutdown();  // idempotent
    EXPECT_EQ(exec.run_until_idle(), 1u);
    EXPECT_EQ(a->handlers_outstanding(), 0);
    a->wake();
    a->gc_finish();
    EXPECT_EQ(a->handlers_outstanding(), 0);
    EXPECT_EQ(exec.run_until_idle(), 0u);
    EXPECT_EQ(store.batches(), 0u);
}

TEST(Shutdown, ContextDroppingAQueuedStepOfADestroyedAllocatorIsHarmless) {
    // The allocator goes first (as it must: its strand lives in the
    // context), then the context destroys the step it never ran. Under
    // ASan this checks that the handler frees what it shares and touches
    // nothing of the allocator.
    test::FakeGenStore store;
    {
        test::ManualExecutor exec;
        auto a = CacheAllocator::create(0, test::small_geometry(), store, exec.executor()).value();
        a->gc_finish();
        ASSERT_EQ(a->handlers_outstanding(), 1);
        a.reset();
    }
    EXPECT_EQ(store.batches(), 0u);
}

}  // namespace
}  // namespace bcl
