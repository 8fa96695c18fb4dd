// The behaviours every replacement policy must share, run over all three.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "allocator_test_fixture.h"

namespace bcl {
namespace {

class EveryPolicy : public ::testing::TestWithParam<Replacement>, protected test::AllocatorFixture {
protected:
    void SetUp() override {
        AllocatorOptions opts;
        opts.replacement = GetParam();
        opts.random_seed = 42;
        opts.wake_gc = [this] { ++gc_wakeups_; };
        make(std::move(opts));
    }

    // What GC would find: the buckets the test holds are live.
    void run_gc() {
        a_->gc_start();
        for (std::uint64_t b : held_) {
            ASSERT_TRUE(a_->gc_mark(b, a_->bucket(b).gen, GcMark::reclaimable, 16));
        }
        a_->gc_finish();
    }

    // Every data bucket is in at most one of: free_inc, free[movinggc],
    // free[none], held by the test. Those are pinned once; all others not.
    // Buckets on a freelist carry their durable gen.
    void check_accounting() {
        std::map<std::uint64_t, int> where;
        for (auto b : a_->free_inc()) ++where[b];
        for (auto b : a_->freelist(Reserve::movinggc)) {
            ++where[b];
            EXPECT_EQ(store_.durable_gen(0, b), a_->bucket(b).gen) << "bucket " << b;
        }
        for (auto b : a_->freelist(Reserve::none)) {
            ++where[b];
            EXPECT_EQ(store_.durable_gen(0, b), a_->bucket(b).gen) << "bucket " << b;
        }
        for (auto b : held_) ++where[b];
        for (std::uint64_t b = 0; b < 64; ++b) {
            const int n = where.count(b) ? where[b] : 0;
            ASSERT_LE(n, 1) << "bucket " << b << " is in two places";
            if (b < 2) {
                ASSERT_EQ(n, 0) << "bucket " << b << " is not a data bucket";
            }
            EXPECT_EQ(a_->bucket(b).pin, n) << "bucket " << b;
        }
    }

    std::set<std::uint64_t> held_;
    int gc_wakeups_ = 0;
};

TEST_P(EveryPolicy, FillAndDrainRepeatedlyAccountsForEveryBucket) {
    start_and_refill();
    check_accounting();
    std::map<std::uint64_t, std::uint8_t> gen_when_held;
    std::size_t handed_out = 0;
    for (int round = 0; round < 60; ++round) {
        // Take up to 20 buckets, from both reserves.
        for (int i = 0; i < 20; ++i) {
            const Reserve reserve = i % 4 == 0 ? Reserve::movinggc : Reserve::none;
            auto r = a_->bucket_alloc(reserve, false);
            if (!r) {
                // Let the task refill (and GC run, if asked) and try once more.
                if (a_->invalidate_needs_gc()) run_gc();
                exec_.run_until_idle();
                r = a_->bucket_alloc(reserve, false);
                if (!r) break;
            }
            const std::uint64_t b = r.value();
            ASSERT_TRUE(held_.insert(b).second);
            auto it = gen_when_held.find(b);
            if (it != gen_when_held.end()) {
                EXPECT_NE(it->second, a_->bucket(b).gen) << "reused without a new gen";
            }
            gen_when_held[b] = a_->bucket(b).gen;
            ++handed_out;
        }
        check_accounting();
        // Give back about a quarter: the cache fills up until GC must run.
        std::vector<std::uint64_t> back;
        for (std::uint64_t b : held_)
            if ((b + static_cast<std::uint64_t>(round)) % 4 == 0) back.push_back(b);
        for (std::uint64_t b : back) {
            a_->bucket_free(b);
            a_->put(b);
            held_.erase(b);
        }
        if (a_->invalidate_needs_gc()) run_gc();
        exec_.run_until_idle();
        check_accounting();
        if (HasFatalFailure()) return;
    }
    // Well past the 62 data buckets: buckets were reused, GC was asked for.
    EXPECT_GT(handed_out, 600u);
    EXPECT_GT(gc_wakeups_, 0);
}

TEST_P(EveryPolicy, NeverInvalidatesDirtyPinnedOrPinned) {
    for (std::uint64_t b = 2; b < 64; b += 3) ASSERT_TRUE(a_->gc_mark(b, 0, GcMark::dirty, 8));
    for (std::uint64_t b = 3; b < 64; b += 3) ASSERT_TRUE(a_->gc_mark(b, 0, GcMark::pinned, 8));
    ASSERT_TRUE(a_->pin(4, 0));
    auto gc = [&] {
        a_->gc_start();
        for (std::uint64_t b = 2; b < 64; b += 3) ASSERT_TRUE(a_->gc_mark(b, 0, GcMark::dirty, 8));
        for (std::uint64_t b = 3; b < 64; b += 3) ASSERT_TRUE(a_->gc_mark(b, 0, GcMark::pinned, 8));
        a_->gc_finish();
    };
    start_and_refill();
    for (int round = 0; round < 3; ++round) {
        while (auto r = a_->bucket_alloc(Reserve::movinggc, false)) {
            const std::uint64_t b = r.value();
            EXPECT_EQ((b - 2) % 3, 2u) << "bucket " << b;
            EXPECT_NE(b, 4u);
            a_->bucket_free(b);
            a_->put(b);
        }
        gc();
        exec_.run_until_idle();
    }
    EXPECT_EQ(a_->bucket(2).gen, 0);
    EXPECT_EQ(a_->bucket(3).gen, 0);
    EXPECT_EQ(a_->bucket(4).gen, 0);
}

TEST_P(EveryPolicy, ExhaustionAsksGcInsteadOfSpinning) {
    for (std::uint64_t b = 2; b < 64; ++b) ASSERT_TRUE(a_->gc_mark(b, 0, GcMark::dirty, 16));
    start_and_refill();
    EXPECT_TRUE(a_->invalidate_needs_gc());
    EXPECT_EQ(gc_wakeups_, 1);
    a_->wake();
    EXPECT_EQ(exec_.run_until_idle(), 1u);
    EXPECT_EQ(gc_wakeups_, 1);
    a_->gc_start();
    a_->gc_finish();
    EXPECT_FALSE(a_->invalidate_needs_gc());
    exec_.run_until_idle();
    EXPECT_TRUE(a_->bucket_alloc(Reserve::none, false));
}

INSTANTIATE_TEST_SUITE_P(Alloc, EveryPolicy,
                         ::testing::Values(Replacement::lru, Replacement::fifo, Replacement::random),
                         [](const ::testing::TestParamInfo<Replacement>& info) {
                             return std::string(replacement_name(info.param));
                         });

}  // namespace
}  // namespace bcl
