// Sequential detection and congestion alone (sequential.h), driven with
// explicit times: runs continue and break, expire after 5 s, the 128
// streams are reused least recently used first, a writer's average of its
// runs decides too, and a cutoff or threshold of 0 turns the check off.
#include "bcachefs_lite/cache/sequential.h"

#include <gtest/gtest.h>

namespace bcl::test {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr std::uint64_t kKi = 1024;
constexpr std::uint64_t kRunCutoff = 64 * kKi;
// Any point well after the clock's epoch.
const SeqClock::time_point kT0 = SeqClock::time_point{} + std::chrono::hours(1);

TEST(SequentialDetector, ARunThatContinuesBypassesOnceItReachesTheCutoff) {
    SequentialDetector d;
    for (std::uint64_t i = 0; i < 15; ++i)
        EXPECT_FALSE(d.check(1, i * 4 * kKi, 4 * kKi, 0, kT0, kRunCutoff)) << "after " << (i + 1) * 4 << "K";
    EXPECT_EQ(d.run_at(1, 60 * kKi, kT0), 60 * kKi);
    EXPECT_TRUE(d.check(1, 60 * kKi, 4 * kKi, 0, kT0, kRunCutoff)) << "64K is the cutoff";
    EXPECT_TRUE(d.check(1, 64 * kKi, 4 * kKi, 0, kT0, kRunCutoff));
}

TEST(SequentialDetector, AJumpStartsANewRun) {
    SequentialDetector d;
    EXPECT_FALSE(d.check(1, 0, 60 * kKi, 0, kT0, kRunCutoff));
    // Not where the run ended: a new run of its own size.
    EXPECT_FALSE(d.check(1, 64 * kKi, 8 * kKi, 0, kT0, kRunCutoff));
    EXPECT_EQ(d.run_at(1, 72 * kKi, kT0), 8 * kKi);
    // The first run is still there and continues.
    EXPECT_TRUE(d.check(1, 60 * kKi, 4 * kKi, 0, kT0, kRunCutoff));
    // Another file at the same offset is another stream.
    EXPECT_FALSE(d.check(2, 64 * kKi, 4 * kKi, 0, kT0, kRunCutoff));
}

TEST(SequentialDetector, OneLargeIoIsARunOfItsOwn) {
    SequentialDetector d;
    EXPECT_TRUE(d.check(1, 0, kRunCutoff, 0, kT0, kRunCutoff));
    EXPECT_FALSE(d.check(1, kRunCutoff * 4, kRunCutoff - 1, 0, kT0, kRunCutoff));
}

TEST(SequentialDetector, AStreamExpiresFiveSecondsAfterItsLastIo) {
    SequentialDetector d;
    EXPECT_FALSE(d.check(1, 0, 60 * kKi, 0, kT0, kRunCutoff));
    const auto later = kT0 + kSequentialExpiry - milliseconds(1);
    EXPECT_TRUE(d.check(1, 60 * kKi, 4 * kKi, 0, later, kRunCutoff)) << "just before it expires";
    // Each I/O pushes the expiry on; 5 s after the last one the run is gone.
    EXPECT_EQ(d.run_at(1, 64 * kKi, later + kSequentialExpiry), 0u);
    EXPECT_FALSE(d.check(1, 64 * kKi, 4 * kKi, 0, later + kSequentialExpiry, kRunCutoff));
    EXPECT_EQ(d.run_at(1, 68 * kKi, later + kSequentialExpiry), 4 * kKi);
}

TEST(SequentialDetector, The128StreamsAreReusedLeastRecentlyUsedFirst) {
    SequentialDetector d;
    // Stream 0 first, then 127 others: all 128 live.
    for (std::uint64_t f = 0; f < kSequentialStreams; ++f) d.check(100 + f, 0, 4 * kKi, 0, kT0, kRunCutoff);
    // Using stream 0 again makes stream 1 the least recently used.
    d.check(100, 4 * kKi, 4 * kKi, 0, kT0, kRunCutoff);
    EXPECT_EQ(d.run_at(100, 8 * kKi, kT0), 8 * kKi);
    EXPECT_EQ(d.run_at(101, 4 * kKi, kT0), 4 * kKi);
    // A new stream takes stream 1's place, and only its.
    d.check(999, 0, 4 * kKi, 0, kT0, kRunCutoff);
    EXPECT_EQ(d.run_at(101, 4 * kKi, kT0), 0u) << "the least recently used stream was reused";
    EXPECT_EQ(d.run_at(100, 8 * kKi, kT0), 8 * kKi);
    for (std::uint64_t f = 2; f < kSequentialStreams; ++f) EXPECT_EQ(d.run_at(100 + f, 4 * kKi, kT0), 4 * kKi) << f;
    EXPECT_EQ(d.run_at(999, 4 * kKi, kT0), 4 * kKi);
}

TEST(SequentialDetector, AWritersAverageOfItsRunsIsAnEwmaOfWeightEight) {
    EXPECT_EQ(sequential_ewma(0, 800), 100u);
    EXPECT_EQ(sequential_ewma(800, 800), 800u);
    EXPECT_EQ(sequential_ewma(800, 0), 700u);

    SequentialDetector d;
    constexpr std::uint64_t w = 7;
    // A run of 1M by writer 7; its average takes it when the next run starts.
    EXPECT_TRUE(d.check(1, 0, 1024 * kKi, w, kT0, kRunCutoff));
    EXPECT_EQ(d.writer_average(w), 0u);
    // A small read elsewhere by the same writer: the average is now 128K,
    // over the cutoff, so even this first I/O of a new run bypasses.
    EXPECT_TRUE(d.check(2, 0, 4 * kKi, w, kT0, kRunCutoff));
    EXPECT_EQ(d.writer_average(w), 128 * kKi);
    // Another writer with no history does not.
    EXPECT_FALSE(d.check(3, 0, 4 * kKi, 8, kT0, kRunCutoff));
    // Small runs bring the average down: 128K * (7/8)^n + 4K parts.
    std::uint64_t expect = 128 * kKi;
    for (int i = 0; i < 12; ++i) {
        d.check(10 + i, 0, 4 * kKi, w, kT0, kRunCutoff);
        expect = sequential_ewma(expect, 4 * kKi);
        EXPECT_EQ(d.writer_average(w), expect) << i;
    }
    EXPECT_LT(expect, kRunCutoff);
    EXPECT_FALSE(d.check(50, 0, 4 * kKi, w, kT0, kRunCutoff));
}

TEST(SequentialDetector, WritersAreForgottenLeastRecentlySeenFirst) {
    SequentialDetector d;
    // Writer 1 has an average; 128 other writers come after it.
    d.check(1, 0, 1024 * kKi, 1, kT0, kRunCutoff);
    d.check(2, 0, 4 * kKi, 1, kT0, kRunCutoff);
    EXPECT_GT(d.writer_average(1), 0u);
    for (std::uint64_t w = 2; w < 2 + kSequentialWriters; ++w) d.check(1000 + w, 0, 4 * kKi, w, kT0, kRunCutoff);
    EXPECT_EQ(d.writer_average(1), 0u) << "the table holds " << kSequentialWriters << " writers";
}

TEST(SequentialDetector, ACutoffOfZeroTurnsBypassOffAndRecordsNothing) {
    SequentialDetector d;
    for (std::uint64_t i = 0; i < 64; ++i) EXPECT_FALSE(d.check(1, i * kRunCutoff, kRunCutoff, 1, kT0, 0));
    EXPECT_EQ(d.run_at(1, 64 * kRunCutoff, kT0), 0u);
    EXPECT_EQ(d.writer_average(1), 0u);
}

TEST(CongestionMeter, SlowRequestsOverTheThresholdMakeItCongested) {
    CongestionMeter m;
    const BypassTunables t{.sequential_cutoff = 0, .congested_read_threshold_us = 2000,
                           .congested_write_threshold_us = 20000};
    EXPECT_FALSE(m.congested(t, kT0)) << "nothing measured";
    // One slow read counts an eighth.
    m.record(CacheIo::read, microseconds(8000), kT0);
    EXPECT_EQ(m.average_us(CacheIo::read), 1000u);
    EXPECT_FALSE(m.congested(t, kT0));
    m.record(CacheIo::read, microseconds(8000), kT0);
    m.record(CacheIo::read, microseconds(8000), kT0);
    EXPECT_GT(m.average_us(CacheIo::read), 2000u);
    EXPECT_TRUE(m.congested(t, kT0));
    // Fast reads bring it back under.
    for (int i = 0; i < 8; ++i) m.record(CacheIo::read, microseconds(10), kT0);
    EXPECT_LT(m.average_us(CacheIo::read), 2000u);
    EXPECT_FALSE(m.congested(t, kT0));
    // Writes have their own average and threshold.
    for (int i = 0; i < 8; ++i) m.record(CacheIo::write, microseconds(10000), kT0);
    EXPECT_FALSE(m.congested(t, kT0)) << m.average_us(CacheIo::write);
    for (int i = 0; i < 16; ++i) m.record(CacheIo::write, microseconds(40000), kT0);
    EXPECT_TRUE(m.congested(t, kT0)) << m.average_us(CacheIo::write);
}

TEST(CongestionMeter, CongestionLapsesWhenNothingIsMeasured) {
    CongestionMeter m;
    const BypassTunables t{};
    for (int i = 0; i < 32; ++i) m.record(CacheIo::write, microseconds(100000), kT0);
    EXPECT_TRUE(m.congested(t, kT0 + kCongestionHold - milliseconds(1)));
    EXPECT_FALSE(m.congested(t, kT0 + kCongestionHold)) << "the next insert is tried and measured";
    m.record(CacheIo::write, microseconds(100000), kT0 + kCongestionHold);
    EXPECT_TRUE(m.congested(t, kT0 + kCongestionHold));
}

TEST(CongestionMeter, AThresholdOfZeroTurnsItsCheckOff) {
    CongestionMeter m;
    for (int i = 0; i < 32; ++i) {
        m.record(CacheIo::read, microseconds(100000), kT0);
        m.record(CacheIo::write, microseconds(100000), kT0);
    }
    EXPECT_TRUE(m.congested(BypassTunables{}, kT0));
    EXPECT_TRUE(m.congested(BypassTunables{.congested_read_threshold_us = 0}, kT0)) << "writes still";
    EXPECT_FALSE(m.congested(BypassTunables{.congested_read_threshold_us = 0, .congested_write_threshold_us = 0}, kT0));
}

TEST(BypassTunables, CutoffIsAtMostFourGiBLessOne) {
    EXPECT_TRUE(validate(BypassTunables{}));
    EXPECT_TRUE(validate(BypassTunables{.sequential_cutoff = kMaxSequentialCutoff}));
    auto bad = validate(BypassTunables{.sequential_cutoff = kMaxSequentialCutoff + 1});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Errc::invalid);
}

}  // namespace
}  // namespace bcl::test
