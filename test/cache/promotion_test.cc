// Promotion: the miss table and the policy alone, then through the engine
// (a miss under nhit is inserted only once missed promote_hits times, and
// only while the cache is at least promote_trigger_percent full).
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "bcachefs_lite/cache/miss_counter.h"
#include "bcachefs_lite/cache/promotion.h"
#include "cache_fixture.h"
#include "io/admission.h"

namespace bcl::test {
namespace {

constexpr CacheFill kFull{100, 100};
constexpr CacheFill kEmpty{0, 100};

PromotionTunables nhit(unsigned hits = 2, unsigned trigger = 80) {
    return PromotionTunables{PromotePolicy::nhit, hits, trigger};
}

// ---- the table ----

TEST(MissCounter, CountsMissesOfARangeAndKeepsRangesApart) {
    MissCounter table(1024);
    const std::uint64_t a = range_hash({1, 0, 4096});
    const std::uint64_t b = range_hash({1, 4096, 4096});
    EXPECT_EQ(table.count(a), 0u);
    EXPECT_EQ(table.record(a), 1u);
    EXPECT_EQ(table.record(a), 2u);
    EXPECT_EQ(table.record(b), 1u);
    EXPECT_EQ(table.record(a), 3u);
    EXPECT_EQ(table.count(a), 3u);
    EXPECT_EQ(table.count(b), 1u);
}

TEST(MissCounter, SizeIsAPowerOfTwoWithinItsBounds) {
    EXPECT_EQ(MissCounter(1000).slots(), 1024u);
    EXPECT_EQ(MissCounter(1).slots(), MissCounter::kMinSlots);
    EXPECT_EQ(MissCounter(4096).memory_bytes(), 4096u * 4);
    EXPECT_EQ(miss_table_slots(100), kMinMissTableSlots);
    EXPECT_EQ(miss_table_slots(std::uint64_t{1} << 40), kMaxMissTableSlots);
    EXPECT_EQ(miss_table_slots(100000), 100000u);
}

TEST(MissCounter, CountsSaturate) {
    MissCounter table(1 << 16);
    const std::uint64_t a = range_hash({7, 0, 4096});
    for (int i = 0; i < 300; ++i) table.record(a);
    EXPECT_EQ(table.count(a), MissCounter::kMaxCount);
}

TEST(MissCounter, EverySlotsMissesTheCountsAreHalved) {
    MissCounter table(64);
    const std::uint64_t hot = range_hash({1, 0, 4096});
    for (int i = 0; i < 8; ++i) table.record(hot);
    EXPECT_EQ(table.agings(), 0u);
    // Misses of other ranges up to the window's end; the hot range's slot
    // may be taken over by one of them, so look at the count just before.
    std::uint64_t other = 1000;
    while (table.agings() == 0) {
        const std::uint64_t h = range_hash({2, other++ * 4096, 4096});
        if ((h & 63) == (hot & 63)) continue;  // keep the hot slot
        table.record(h);
    }
    EXPECT_EQ(table.agings(), 1u);
    EXPECT_EQ(table.count(hot), 4u);
}

TEST(MissCounter, ARangeMissedOnceIsForgottenAtTheNextHalving) {
    MissCounter table(64);
    const std::uint64_t once = range_hash({3, 0, 4096});
    table.record(once);
    for (std::uint64_t i = 0; table.agings() == 0; ++i) {
        const std::uint64_t h = range_hash({4, i * 4096, 4096});
        if ((h & 63) != (once & 63)) table.record(h);
    }
    EXPECT_EQ(table.count(once), 0u);
}

TEST(MissCounter, StaysTheSameSizeWhateverItCounts) {
    MissCounter table(4096);
    const std::size_t slots = table.slots(), bytes = table.memory_bytes();
    for (std::uint64_t file = 1; file <= 10000; ++file)
        for (std::uint64_t block = 0; block < 100; ++block) table.record(range_hash({file, block * 4096, 4096}));
    EXPECT_EQ(table.slots(), slots);
    EXPECT_EQ(table.memory_bytes(), bytes);
    EXPECT_GE(table.agings(), 1000000u / slots - 1);
}

TEST(MissCounter, ConcurrentMissesAreAllCounted) {
    MissCounter table(1 << 16);  // no aging within 200 misses
    const std::uint64_t a = range_hash({9, 8192, 65536});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) table.record(a);
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(table.count(a), 200u);
}

// ---- the policy ----

TEST(PromotionPolicy, AlwaysAdmitsEveryMissAndCountsNothing) {
    PromotionPolicy p(PromotionTunables{}, 4096);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(p.admit({1, 0, 4096}, kFull));
    EXPECT_EQ(p.table().count(range_hash({1, 0, 4096})), 0u);
}

TEST(PromotionPolicy, NhitAdmitsARangeAtItsNthMiss) {
    PromotionPolicy p(nhit(2), 4096);
    EXPECT_FALSE(p.admit({1, 0, 4096}, kFull));
    EXPECT_TRUE(p.admit({1, 0, 4096}, kFull));
    // Another file, or another range of the same file, counts on its own.
    EXPECT_FALSE(p.admit({2, 0, 4096}, kFull));
    EXPECT_FALSE(p.admit({1, 0, 8192}, kFull));

    PromotionPolicy three(nhit(3), 4096);
    EXPECT_FALSE(three.admit({1, 0, 4096}, kFull));
    EXPECT_FALSE(three.admit({1, 0, 4096}, kFull));
    EXPECT_TRUE(three.admit({1, 0, 4096}, kFull));
}

TEST(PromotionPolicy, BelowTheTriggerEveryMissIsAdmittedAndNotCounted) {
    PromotionPolicy p(nhit(2, 80), 4096);
    EXPECT_TRUE(p.admit({1, 0, 4096}, kEmpty));
    EXPECT_TRUE(p.admit({1, 0, 4096}, CacheFill{79, 100}));
    EXPECT_EQ(p.table().count(range_hash({1, 0, 4096})), 0u);
    // At the trigger (Open CAS's rule: used >= trigger% of the capacity) nhit applies.
    EXPECT_FALSE(p.admit({1, 0, 4096}, CacheFill{80, 100}));
    EXPECT_TRUE(p.admit({1, 0, 4096}, CacheFill{80, 100}));
}

TEST(PromotionPolicy, TheTriggersExtremes) {
    PromotionPolicy zero(nhit(2, 0), 4096);
    EXPECT_FALSE(zero.admit({1, 0, 4096}, kEmpty)) << "0: nhit applies even to an empty cache";
    PromotionPolicy hundred(nhit(2, 100), 4096);
    EXPECT_TRUE(hundred.admit({1, 0, 4096}, CacheFill{99, 100}));
    EXPECT_FALSE(hundred.admit({2, 0, 4096}, kFull)) << "100: only a completely full cache";
    EXPECT_FALSE(hundred.admit({3, 0, 4096}, CacheFill{0, 0})) << "unknown fill counts as full";
}

TEST(PromotionPolicy, TunablesAreValidatedAndChangeAtRunTime) {
    PromotionPolicy p(PromotionTunables{}, 4096);
    EXPECT_EQ(p.tunables(), PromotionTunables{});
    for (const PromotionTunables& bad : {nhit(1), nhit(256), nhit(2, 101), nhit(0)}) {
        auto st = p.set_tunables(bad);
        ASSERT_FALSE(st);
        EXPECT_EQ(st.error().code, Errc::invalid);
        EXPECT_EQ(st.error().message.find('\n'), std::string::npos);
    }
    EXPECT_EQ(p.tunables(), PromotionTunables{}) << "a refused set changes nothing";
    EXPECT_NE(validate(nhit(1)).error().message.find("promote_hits"), std::string::npos);
    EXPECT_NE(validate(nhit(2, 101)).error().message.find("promote_trigger_percent"), std::string::npos);

    ASSERT_TRUE(p.set_tunables(nhit(255, 100)));
    EXPECT_EQ(p.tunables(), nhit(255, 100));
    ASSERT_TRUE(p.set_tunables(nhit(3, 0)));
    EXPECT_FALSE(p.admit({1, 0, 4096}, kEmpty));
}

TEST(PromotionPolicy, PolicyNames) {
    EXPECT_EQ(parse_promote_policy("always"), PromotePolicy::always);
    EXPECT_EQ(parse_promote_policy("nhit"), PromotePolicy::nhit);
    EXPECT_EQ(parse_promote_policy("NHIT"), std::nullopt);
    EXPECT_STREQ(promote_policy_name(PromotePolicy::nhit), "nhit");
}

// ---- through the engine ----

class PromotionTest : public CacheTest {
protected:
    void open_with(const PromotionTunables& t) {
        CacheSetOptions o = options();
        o.tunables.promotion = t;
        open_set(std::move(o));
    }
    std::uint64_t cached(EngineFile& f) {
        auto n = set_->cached_bytes(f.state->identity.dev, f.state->identity.ino);
        EXPECT_TRUE(n);
        return n ? n.value() : 0;
    }
};

TEST_F(PromotionTest, WithNhitTheFirstMissIsNotInsertedAndTheSecondIs) {
    format_cache(96);
    open_with(nhit(2, 0));
    const std::string data = random_bytes(rng_, 3 * 4096);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));

    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(cached(f), 0u);
    CacheStats s = set_->stats();
    EXPECT_EQ(s.promotions, 0u);
    EXPECT_EQ(s.promotions_skipped, 1u);

    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(cached(f), data.size());
    s = set_->stats();
    EXPECT_EQ(s.cache_misses, 2u);
    EXPECT_EQ(s.promotions, 1u);
    EXPECT_EQ(s.promotions_skipped, 1u);

    EXPECT_EQ(f.read(0, data.size()), data);
    s = set_->stats();
    EXPECT_EQ(s.cache_hits, 1u);
    EXPECT_EQ(s.promotions + s.promotions_skipped, 2u) << "a hit asks nothing";
}

TEST_F(PromotionTest, BelowTheTriggerEveryMissIsInserted) {
    format_cache(96);
    open_with(nhit(2, 80));  // the defaults but for the policy; the cache is empty
    const CacheFill fill = set_->admission().cache_fill();
    ASSERT_GT(fill.total, 0u);
    EXPECT_EQ(fill.used, 0u);
    const std::string data = random_bytes(rng_, 5 * 4096);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(cached(f), data.size());
    EXPECT_EQ(f.read(0, data.size()), data);
    const CacheStats s = set_->stats();
    EXPECT_EQ(s.cache_hits, 1u);
    EXPECT_EQ(s.promotions, 1u);
    EXPECT_EQ(s.promotions_skipped, 0u);
}

TEST_F(PromotionTest, OnceTheCacheIsFullNhitApplies) {
    format_cache(64);
    open_set();
    // Twice the cache, read once, fills it.
    const std::size_t size = 2 * 64 * kTestBucketSize;
    write_whole(path("big"), random_bytes(rng_, size));
    write_whole(path("late"), random_bytes(rng_, 4096));
    {
        EngineFile big(*set_, path("big"));
        big.read_chunked(0, size);
    }
    ASSERT_TRUE(set_->run_gc());
    set_->run_background_until_idle();
    const CacheFill fill = set_->admission().cache_fill();
    ASSERT_GT(fill.total, 0u);
    EXPECT_GE(fill.used * 100, 80 * fill.total) << fill.used << " of " << fill.total;
    EXPECT_EQ(set_->stats().promotions_skipped, 0u);

    ASSERT_TRUE(set_->admission().set_promotion_tunables(nhit(2, 80)));
    EngineFile late(*set_, path("late"));
    late.read(0, 4096);
    set_->run_background_until_idle();
    EXPECT_EQ(cached(late), 0u);
    EXPECT_EQ(set_->stats().promotions_skipped, 1u);
    late.read(0, 4096);
    set_->run_background_until_idle();
    EXPECT_EQ(cached(late), 4096u);
}

TEST_F(PromotionTest, WritesAreCachedWhateverThePolicy) {
    format_cache(96);
    open_with(nhit(2, 0));
    write_whole(path("w"), std::string(4096 * 4, 'x'));
    EngineFile f(*set_, path("w"));
    f.write(0, std::string(4096 * 2, 'y'));  // writethrough caches the blocks it wrote
    EXPECT_EQ(cached(f), 4096u * 2);
    const CacheStats s = set_->stats();
    EXPECT_EQ(s.promotions + s.promotions_skipped, 0u);
}

TEST_F(PromotionTest, TunablesChangeAtRunTimeAndBadOnesAreRefused) {
    format_cache(96);
    open_set();
    EXPECT_EQ(set_->admission().promotion_tunables(), PromotionTunables{});
    auto bad = set_->admission().set_promotion_tunables(nhit(0));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Errc::invalid);
    EXPECT_EQ(set_->admission().promotion_tunables(), PromotionTunables{});

    const std::string data = random_bytes(rng_, 4096);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    ASSERT_TRUE(set_->admission().set_promotion_tunables(nhit(3, 0)));
    f.read(0, 4096);
    f.read(0, 4096);
    EXPECT_EQ(cached(f), 0u);
    f.read(0, 4096);
    EXPECT_EQ(cached(f), 4096u);
}

TEST_F(PromotionTest, BadTunablesRefuseTheOpen) {
    format_cache(96);
    CacheSetOptions o = options();
    o.tunables.promotion = nhit(2, 150);
    auto set = CacheSet::open(std::move(o), log_);
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().code, Errc::invalid);
    EXPECT_NE(set.error().message.find("promote_trigger_percent"), std::string::npos) << set.error().message;
}

TEST_F(PromotionTest, TheMissTableStaysBoundedWhateverIsRead) {
    format_cache(64);
    open_with(nhit(2, 0));
    const std::size_t slots = set_->admission().promotion().table().slots();
    const std::size_t bytes = set_->admission().promotion().table().memory_bytes();
    EXPECT_EQ(slots, kMinMissTableSlots) << "a cache of 1024 blocks gets the smallest table";
    // More ranges, of more files, than the table has slots.
    const int files = 600, blocks = 8;
    for (int i = 0; i < files; ++i) {
        const std::string name = "f" + std::to_string(i);
        write_whole(path(name), random_bytes(rng_, blocks * 4096));
        EngineFile f(*set_, path(name));
        for (int block = 0; block < blocks; ++block) f.read(block * 4096u, 4096);
    }
    EXPECT_EQ(set_->admission().promotion().table().slots(), slots);
    EXPECT_EQ(set_->admission().promotion().table().memory_bytes(), bytes);
    EXPECT_GT(set_->admission().promotion().table().agings(), 0u);
    EXPECT_EQ(set_->stats().promotions_skipped, std::uint64_t{files} * blocks) << "every range was missed once";
    EXPECT_EQ(set_->stats().promotions, 0u);
}

}  // namespace
}  // namespace bcl::test
