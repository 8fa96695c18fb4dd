// One stream's ground alone (sequential_stream.h): requests that touch the
// run grow it, a re-read is no continuation, bytes read twice count once,
// pieces out of order count once the gap before them is read and go when it
// stays open for sixteen requests, and the window is sixteen requests of the
// larger of the request's and the stream's last request's size, at most the
// limit given (a quarter of the cutoff, at most kSequentialWindow), behind
// and ahead.
#include "bcachefs_lite/cache/sequential_stream.h"

#include <gtest/gtest.h>

namespace bcl::test::stream_ground {
namespace {

constexpr std::uint64_t kKi = 1024;
constexpr std::uint64_t kMi = 1024 * kKi;

SequentialStream started(std::uint64_t offset, std::uint64_t length) {
    SequentialStream s;
    s.start(offset, length);
    return s;
}

TEST(SequentialStream, ARequestAtTheEndGrowsTheRunByItsLength) {
    SequentialStream s = started(0, 128 * kKi);
    EXPECT_EQ(s.run(), 128 * kKi);
    ASSERT_EQ(s.distance(128 * kKi, 128 * kKi, kSequentialWindow), 0u);
    EXPECT_EQ(s.add(128 * kKi, 128 * kKi), 128 * kKi);
    EXPECT_EQ(s.run(), 256 * kKi);
    EXPECT_EQ(s.end(), 256 * kKi);
}

TEST(SequentialStream, AReReadIsNoContinuation) {
    SequentialStream s = started(0, 128 * kKi);
    EXPECT_FALSE(s.distance(0, 128 * kKi, kSequentialWindow));
    EXPECT_FALSE(s.distance(64 * kKi, 4 * kKi, kSequentialWindow));
    s.add(256 * kKi, 128 * kKi);
    EXPECT_FALSE(s.distance(300 * kKi, 4 * kKi, kSequentialWindow)) << "nor is a re-read of a piece";
    EXPECT_EQ(s.distance(64 * kKi, 128 * kKi, kSequentialWindow), 0u) << "partly new";
}

TEST(SequentialStream, BytesReadTwiceCountOnce) {
    SequentialStream s = started(0, 128 * kKi);
    EXPECT_EQ(s.add(64 * kKi, 128 * kKi), 64 * kKi) << "half of it is new";
    EXPECT_EQ(s.add(0, 192 * kKi), 0u);
    EXPECT_EQ(s.add(4 * kKi, 4 * kKi), 0u);
    EXPECT_EQ(s.run(), 192 * kKi);
}

TEST(SequentialStream, APieceAheadCountsOnceTheGapBeforeItIsRead) {
    SequentialStream s = started(0, 128 * kKi);
    ASSERT_EQ(s.distance(256 * kKi, 128 * kKi, kSequentialWindow), 128 * kKi);
    EXPECT_EQ(s.add(256 * kKi, 128 * kKi), 0u) << "apart from the run";
    EXPECT_EQ(s.add(512 * kKi, 128 * kKi), 0u);
    EXPECT_EQ(s.end(), 128 * kKi);
    // The gap is read: the run takes in the piece after it, not the one
    // after the next gap.
    EXPECT_EQ(s.add(128 * kKi, 128 * kKi), 256 * kKi);
    EXPECT_EQ(s.end(), 384 * kKi);
    EXPECT_EQ(s.add(384 * kKi, 128 * kKi), 256 * kKi);
    EXPECT_EQ(s.run(), 640 * kKi);
}

TEST(SequentialStream, ARequestBelowTheRunExtendsItDownwards) {
    // 256K came first, then 0, then 128K: all three count, once.
    SequentialStream s = started(256 * kKi, 128 * kKi);
    ASSERT_TRUE(s.distance(0, 128 * kKi, kSequentialWindow));
    EXPECT_EQ(s.add(0, 128 * kKi), 0u);
    EXPECT_EQ(s.add(128 * kKi, 128 * kKi), 256 * kKi);
    EXPECT_EQ(s.run(), 384 * kKi);
}

TEST(SequentialStream, PiecesThatTouchBecomeOne) {
    SequentialStream s = started(0, 4 * kKi);
    for (std::uint64_t block = 15; block >= 2; --block) EXPECT_EQ(s.add(block * 4 * kKi, 4 * kKi), 0u) << block;
    EXPECT_EQ(s.add(4 * kKi, 4 * kKi), 60 * kKi) << "one piece of 14 blocks, whatever the slots";
}

TEST(SequentialStream, TheWindowIsSixteenRequestsOfTheLargerSize) {
    // 4K requests: 64K either side of the run's end, the request included.
    SequentialStream s = started(1 * kMi, 4 * kKi);
    const std::uint64_t end = s.end();
    EXPECT_TRUE(s.distance(end + 60 * kKi, 4 * kKi, kSequentialWindow));
    EXPECT_FALSE(s.distance(end + 60 * kKi + 1, 4 * kKi, kSequentialWindow));
    EXPECT_TRUE(s.distance(end - 64 * kKi - 4 * kKi, 4 * kKi, kSequentialWindow));
    EXPECT_FALSE(s.distance(end - 64 * kKi - 4 * kKi - 1, 4 * kKi, kSequentialWindow));
    // A larger request has a larger window, and so does whatever follows it.
    EXPECT_TRUE(s.distance(end + 100 * kKi, 8 * kKi, kSequentialWindow));
    s.add(end + 4 * kKi, 128 * kKi);
    EXPECT_TRUE(s.distance(end + 1 * kMi, 4 * kKi, kSequentialWindow)) << "the last request was 128K";
}

TEST(SequentialStream, TheWindowIsAtMostTwoMiB) {
    SequentialStream s = started(0, 1 * kMi);
    EXPECT_TRUE(s.distance(2 * kMi, 1 * kMi, kSequentialWindow)) << "one request ahead of the next one";
    EXPECT_FALSE(s.distance(2 * kMi + 1, 1 * kMi, kSequentialWindow));
    SequentialStream far = started(64 * kMi, 1 * kMi);
    EXPECT_FALSE(far.distance(0, 1 * kMi, kSequentialWindow)) << "a new pass from the start";
    EXPECT_TRUE(far.distance(65 * kMi, 64 * kMi, kSequentialWindow)) << "at the run's end however long";
    EXPECT_TRUE(far.distance(0, 65 * kMi, kSequentialWindow)) << "over the run's end";
}

TEST(SequentialStream, TheWindowIsAtMostTheLimitAndAQuarterOfTheCutoff) {
    SequentialStream s = started(0, 128 * kKi);
    EXPECT_TRUE(s.distance(512 * kKi, 128 * kKi, 512 * kKi));
    EXPECT_FALSE(s.distance(516 * kKi, 128 * kKi, 512 * kKi));
    EXPECT_EQ(sequential_window(4 * kMi), 1 * kMi);
    EXPECT_EQ(sequential_window(64 * kKi), 16 * kKi);
    EXPECT_EQ(sequential_window(64 * kMi), kSequentialWindow);
    EXPECT_EQ(sequential_window(0), 0u);
}

TEST(SequentialStream, APieceWhoseGapStaysOpenForSixteenRequestsGoes) {
    SequentialStream s = started(0, 4 * kKi);
    s.add(8 * kKi, 4 * kKi);  // block 1 missing
    // 16 more requests, none of them block 1, all far ahead of the run.
    for (std::uint64_t i = 0; i < kSequentialReorder; ++i) s.add((40 + 2 * i) * 4 * kKi, 4 * kKi);
    EXPECT_EQ(s.add(4 * kKi, 4 * kKi), 4 * kKi) << "block 2 no longer counts";
    SequentialStream t = started(0, 4 * kKi);
    t.add(8 * kKi, 4 * kKi);
    for (std::uint64_t i = 0; i + 1 < kSequentialReorder; ++i) t.add((40 + 2 * i) * 4 * kKi, 4 * kKi);
    EXPECT_EQ(t.add(4 * kKi, 4 * kKi), 8 * kKi) << "one request earlier, it still does";
}

TEST(SequentialStream, PiecesFarthestFromTheEndGiveWayWhenAllSlotsAreTaken) {
    // add() alone, whatever the window.
    SequentialStream s = started(0, 4 * kKi);
    // Pieces at blocks 2, 4, ..., 2 * (kSequentialPieces + 1): one too many.
    for (std::uint64_t i = 1; i <= kSequentialPieces + 1; ++i) s.add(2 * i * 4 * kKi, 4 * kKi);
    // Filling the gaps in order takes in every piece but the farthest.
    std::uint64_t grown = 0;
    for (std::uint64_t i = 0; i <= kSequentialPieces; ++i) grown += s.add((2 * i + 1) * 4 * kKi, 4 * kKi);
    EXPECT_EQ(s.run(), (2 * kSequentialPieces + 2) * 4 * kKi);
    EXPECT_EQ(grown, s.run() - 4 * kKi);
}

}  // namespace
}  // namespace bcl::test::stream_ground
