// The routes of reads and writes, over every mode and state, and that the
// sequential detector and the dirty cutoffs are asked only when their
// answer decides the route.
#include "bcachefs_lite/cache/route.h"

#include <gtest/gtest.h>

namespace bcl {
namespace {

constexpr CacheMode kRouteModes[] = {CacheMode::writethrough, CacheMode::writeback, CacheMode::writearound,
                                     CacheMode::none};

struct RouteAnswer {
    int times = 0;
    bool answer = false;
    auto fn() {
        return [this] {
            ++times;
            return answer;
        };
    }
};

TEST(ReadRoute, InServiceEveryModeServesAllAndAllButNoneInsert) {
    for (CacheMode mode : kRouteModes) {
        RouteAnswer seq;
        const ReadRoute r = resolve_read_route(ReadFacts{mode}, seq.fn());
        EXPECT_EQ(r.serve, ReadRoute::Serve::all) << cache_mode_name(mode);
        EXPECT_EQ(r.insert_misses, mode != CacheMode::none) << cache_mode_name(mode);
        EXPECT_FALSE(r.sequential);
        EXPECT_EQ(seq.times, 1);
    }
}

TEST(ReadRoute, ABypassedFileReadsTheBackingAloneAndFeedsNoDetector) {
    for (const bool in_service : {true, false}) {
        RouteAnswer seq{0, true};
        ReadFacts f{CacheMode::writeback, in_service};
        f.bypassed = true;
        const ReadRoute r = resolve_read_route(f, seq.fn());
        EXPECT_EQ(r.serve, ReadRoute::Serve::nothing);
        EXPECT_FALSE(r.insert_misses);
        EXPECT_FALSE(r.sequential);
        EXPECT_EQ(seq.times, 0);
    }
}

TEST(ReadRoute, ASequentialReadTakesHitsButInsertsNothing) {
    RouteAnswer seq{0, true};
    const ReadRoute r = resolve_read_route(ReadFacts{CacheMode::writethrough}, seq.fn());
    EXPECT_EQ(r.serve, ReadRoute::Serve::all);
    EXPECT_FALSE(r.insert_misses);
    EXPECT_TRUE(r.sequential);
}

TEST(ReadRoute, APinnedFileInsertsHoweverItIsReadAndAsksNoDetector) {
    RouteAnswer seq{0, true};
    ReadFacts f{CacheMode::writethrough};
    f.pinned = true;
    const ReadRoute r = resolve_read_route(f, seq.fn());
    EXPECT_TRUE(r.insert_misses);
    EXPECT_FALSE(r.sequential);
    EXPECT_EQ(seq.times, 0);
}

TEST(ReadRoute, OutOfServiceServesDirtyDataOnlyAndClosingInsertsNothing) {
    RouteAnswer seq;
    const ReadRoute out = resolve_read_route(ReadFacts{CacheMode::writeback, false}, seq.fn());
    EXPECT_EQ(out.serve, ReadRoute::Serve::dirty_only);
    EXPECT_FALSE(out.insert_misses);
    const ReadRoute closing = resolve_read_route(ReadFacts{CacheMode::writeback, true, true}, seq.fn());
    EXPECT_EQ(closing.serve, ReadRoute::Serve::all);
    EXPECT_FALSE(closing.insert_misses);
}

TEST(WriteRoute, EachModeHasItsRoute) {
    RouteAnswer room{0, true};
    EXPECT_EQ(resolve_write_route(CacheMode::writethrough, false, room.fn()), WriteRoute::through);
    EXPECT_EQ(resolve_write_route(CacheMode::writearound, false, room.fn()), WriteRoute::around);
    EXPECT_EQ(resolve_write_route(CacheMode::none, false, room.fn()), WriteRoute::around);
    EXPECT_EQ(room.times, 0);  // asked in writeback mode alone
    EXPECT_EQ(resolve_write_route(CacheMode::writeback, false, room.fn()), WriteRoute::dirty);
    EXPECT_EQ(room.times, 1);
    room.answer = false;
    EXPECT_EQ(resolve_write_route(CacheMode::writeback, false, room.fn()), WriteRoute::no_room);
}

TEST(WriteRoute, ASequentialWriteGoesAroundInEveryMode) {
    for (CacheMode mode : kRouteModes) {
        RouteAnswer room{0, true};
        EXPECT_EQ(resolve_write_route(mode, true, room.fn()), WriteRoute::sequential) << cache_mode_name(mode);
        EXPECT_EQ(room.times, 0);
    }
}

}  // namespace
}  // namespace bcl
