// A bucket waiting for reuse (on free_inc or a freelist) keeps serving reads
// of its old gen until it is handed out or discarded; its new gen is the
// durable one, so after a crash the old pointers read stale.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "allocator_test_fixture.h"

namespace bcl {
namespace {

class OldGenReads : public ::testing::Test, protected test::AllocatorFixture {
protected:
    // Every data bucket holds clean data at gen 0, as after a mount.
    void fill_and_refill(AllocatorOptions options = {}) {
        make(std::move(options));
        for (std::uint64_t b = 2; b < 64; ++b) ASSERT_TRUE(a_->gc_mark(b, 0, GcMark::reclaimable, 16));
        start_and_refill();
    }
    std::vector<std::uint64_t> waiting() const {
        std::vector<std::uint64_t> v = a_->free_inc();
        for (std::uint64_t b : none()) v.push_back(b);
        for (std::uint64_t b : movinggc()) v.push_back(b);
        return v;
    }
};

TEST_F(OldGenReads, BucketsOnFreeIncAndTheFreelistsStillServeTheirOldGen) {
    fill_and_refill();
    const auto w = waiting();
    ASSERT_EQ(w.size(), 16u);
    EXPECT_EQ(a_->free_inc().size(), 8u);
    for (std::uint64_t b : w) {
        const BucketInfo info = a_->bucket(b);
        EXPECT_EQ(info.gen, 1) << b;
        EXPECT_EQ(info.read_gen, 0) << b;
        EXPECT_FALSE(a_->ptr_stale(b, 0)) << b;
        // Nothing was written with the new gen yet: nothing to serve.
        EXPECT_TRUE(a_->ptr_stale(b, 1)) << b;
    }
    // A bucket not invalidated serves its only gen.
    std::uint64_t kept = 2;
    while (std::find(w.begin(), w.end(), kept) != w.end()) ++kept;
    EXPECT_FALSE(a_->ptr_stale(kept, 0));
    EXPECT_TRUE(a_->ptr_stale(kept, 1));
    EXPECT_TRUE(a_->ptr_stale(64, 0));  // out of range
}

TEST_F(OldGenReads, HandOutEndsTheOldReadsBeforeTheCallerCanWrite) {
    fill_and_refill();
    const auto b = a_->bucket_alloc(Reserve::none, false);
    ASSERT_TRUE(b);
    EXPECT_TRUE(a_->ptr_stale(b.value(), 0));
    EXPECT_FALSE(a_->ptr_stale(b.value(), 1));
    EXPECT_EQ(a_->bucket(b.value()).read_gen, 1);
    // The others still wait and still serve.
    for (std::uint64_t o : waiting()) EXPECT_FALSE(a_->ptr_stale(o, 0)) << o;
    // The same through the reserve.
    const auto r = a_->bucket_alloc(Reserve::movinggc, false);
    ASSERT_TRUE(r);
    EXPECT_TRUE(a_->ptr_stale(r.value(), 0));
}

TEST_F(OldGenReads, GcNeitherCountsNorDropsTheOldGenOfAWaitingBucket) {
    fill_and_refill();
    const auto w = waiting();
    a_->gc_start();
    for (std::uint64_t b : w) {
        const BucketInfo before = a_->bucket(b);
        // Stale to GC: it must not keep the bucket in use...
        EXPECT_EQ(a_->gc_mark(b, 0, GcMark::dirty, 16).error().code, Errc::stale) << b;
        EXPECT_EQ(a_->bucket(b).mark, before.mark) << b;
        EXPECT_EQ(a_->bucket(b).sectors_used, before.sectors_used) << b;
    }
    a_->gc_finish();
    exec_.run_until_idle();
    // ...and GC leaves it readable and on its list.
    EXPECT_EQ(waiting(), w);
    for (std::uint64_t b : w) {
        EXPECT_FALSE(a_->ptr_stale(b, 0)) << b;
        EXPECT_EQ(a_->bucket(b).pin, 1) << b;
    }
}

TEST_F(OldGenReads, AfterACrashTheDurableGenMakesThePersistedBatchStale) {
    fill_and_refill();
    const auto w = waiting();
    ASSERT_EQ(store_.batches(), 1u);
    // A crash: nothing of the allocator survives but what GenStore holds.
    std::vector<BucketGenPrio> persisted;
    for (std::uint64_t b = 2; b < 64; ++b)
        if (const auto gen = store_.durable_gen(0, b)) persisted.push_back({b, *gen, kInitialPrio});
    a_.reset();
    make();
    ASSERT_TRUE(a_->load(persisted));
    for (std::uint64_t b : w) {
        EXPECT_TRUE(a_->ptr_stale(b, 0)) << b;
        EXPECT_EQ(a_->bucket(b).read_gen, 1) << b;
    }
}

TEST_F(OldGenReads, AfterACrashBeforePersistTheOldGenIsStillTheDurableOne) {
    make();
    for (std::uint64_t b = 2; b < 64; ++b) ASSERT_TRUE(a_->gc_mark(b, 0, GcMark::reclaimable, 16));
    store_.fail_next(1);
    start_and_refill();
    const auto stuck = a_->free_inc();
    ASSERT_EQ(stuck.size(), 16u);
    ASSERT_FALSE(a_->free_inc_durable());
    a_.reset();
    make();  // nothing was persisted: every bucket loads gen 0
    for (std::uint64_t b : stuck) EXPECT_FALSE(a_->ptr_stale(b, 0)) << b;
}

TEST_F(OldGenReads, DiscardEndsTheOldReadsBeforeItIsIssued) {
    std::vector<std::uint64_t> discarded;
    std::vector<bool> stale_when_discarded;
    AllocatorOptions opts;
    // Called by the allocator's step, with no lock held: it may ask.
    opts.discard = [&](std::uint64_t b) -> Status {
        discarded.push_back(b);
        stale_when_discarded.push_back(a_->ptr_stale(b, 0));
        return ok();
    };
    make(std::move(opts));
    for (std::uint64_t b = 2; b < 64; ++b) ASSERT_TRUE(a_->gc_mark(b, 0, GcMark::reclaimable, 16));
    start_and_refill();
    ASSERT_EQ(discarded.size(), 8u);
    for (std::size_t i = 0; i < discarded.size(); ++i) EXPECT_TRUE(stale_when_discarded[i]) << discarded[i];
    for (std::uint64_t b : none()) EXPECT_TRUE(a_->ptr_stale(b, 0)) << b;
    for (std::uint64_t b : movinggc()) EXPECT_TRUE(a_->ptr_stale(b, 0)) << b;
    // Not discarded yet: still served.
    for (std::uint64_t b : a_->free_inc()) EXPECT_FALSE(a_->ptr_stale(b, 0)) << b;
}

TEST_F(OldGenReads, TheMovinggcReserveRotatesSoNoBucketWaitsForEver) {
    fill_and_refill();
    // Plain allocations never take the reserve, but it does not keep the
    // same buckets: every bucket passes through it and is handed out in the
    // order it was invalidated, serving its old data until then.
    std::vector<std::uint64_t> handed_out;
    for (int i = 0; i < 40; ++i) {
        EXPECT_EQ(movinggc().size(), a_->sizes().free) << i;
        for (std::uint64_t b : waiting()) {
            const BucketInfo info = a_->bucket(b);
            EXPECT_EQ(info.read_gen, static_cast<std::uint8_t>(info.gen - 1)) << b;
            EXPECT_FALSE(a_->ptr_stale(b, info.read_gen)) << b;
        }
        const auto b = a_->bucket_alloc(Reserve::none, false);
        ASSERT_TRUE(b) << i;
        handed_out.push_back(b.value());
        a_->put(b.value());  // written and indexed: may be reused again
        exec_.run_until_idle();
    }
    std::vector<std::uint64_t> invalidated;
    for (std::size_t i = 0; i < store_.batches(); ++i)
        for (const BucketGenPrio& e : store_.batch(i)) invalidated.push_back(e.bucket);
    ASSERT_GE(invalidated.size(), handed_out.size());
    invalidated.resize(handed_out.size());
    EXPECT_EQ(handed_out, invalidated);
}

}  // namespace
}  // namespace bcl
