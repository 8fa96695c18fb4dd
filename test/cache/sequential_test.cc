// Sequential detection and congestion alone (sequential.h), driven with
// explicit times: runs continue and break, also when their requests come
// out of order (a sequential read in shuffled order inserts at most the
// cutoff and one window, alone or beside another), random reads and hot
// sets make no run, streams expire after 5 s, the 128 streams are reused
// least recently used first, a writer's average of its runs decides too, and
// a cutoff or threshold of 0 turns the check off.
#include "bcachefs_lite/cache/sequential.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <vector>

namespace bcl::test {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr std::uint64_t kKi = 1024;
constexpr std::uint64_t kMi = 1024 * kKi;
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

TEST(SequentialDetector, AJumpPastTheWindowStartsANewRun) {
    SequentialDetector d;
    EXPECT_FALSE(d.check(1, 0, 60 * kKi, 0, kT0, kRunCutoff));
    // Far from where the run ended: a new run of its own size.
    EXPECT_FALSE(d.check(1, 64 * kMi, 8 * kKi, 0, kT0, kRunCutoff));
    EXPECT_EQ(d.run_at(1, 64 * kMi + 8 * kKi, kT0), 8 * kKi);
    // The first run is still there and continues.
    EXPECT_TRUE(d.check(1, 60 * kKi, 4 * kKi, 0, kT0, kRunCutoff));
    // Another file at the same offset is another stream.
    EXPECT_FALSE(d.check(2, 64 * kKi, 4 * kKi, 0, kT0, kRunCutoff));
}

TEST(SequentialDetector, OneLargeIoIsARunOfItsOwn) {
    SequentialDetector d;
    EXPECT_TRUE(d.check(1, 0, kRunCutoff, 0, kT0, kRunCutoff));
    EXPECT_FALSE(d.check(1, 64 * kMi, kRunCutoff - 1, 0, kT0, kRunCutoff));
}

TEST(SequentialDetector, RequestsOutOfOrderWithinTheWindowContinueTheRun) {
    SequentialDetector d;
    // As readahead reaches the worker threads: 128K, 0, 384K, 256K.
    EXPECT_FALSE(d.check(1, 128 * kKi, 128 * kKi, 0, kT0, 1 * kMi));
    EXPECT_FALSE(d.check(1, 0, 128 * kKi, 0, kT0, 1 * kMi));
    EXPECT_EQ(d.run_at(1, 256 * kKi, kT0), 256 * kKi);
    EXPECT_FALSE(d.check(1, 384 * kKi, 128 * kKi, 0, kT0, 1 * kMi));
    EXPECT_EQ(d.run_at(1, 256 * kKi, kT0), 256 * kKi) << "384K waits for 256K";
    EXPECT_FALSE(d.check(1, 256 * kKi, 128 * kKi, 0, kT0, 1 * kMi));
    EXPECT_EQ(d.run_at(1, 512 * kKi, kT0), 512 * kKi);
    // Read again, a request adds nothing.
    EXPECT_FALSE(d.check(1, 128 * kKi, 128 * kKi, 0, kT0, 1 * kMi));
    EXPECT_EQ(d.run_at(1, 512 * kKi, kT0), 512 * kKi);
    for (std::uint64_t off = 512 * kKi; off < 896 * kKi; off += 128 * kKi)
        EXPECT_FALSE(d.check(1, off, 128 * kKi, 0, kT0, 1 * kMi)) << off;
    EXPECT_TRUE(d.check(1, 896 * kKi, 128 * kKi, 0, kT0, 1 * kMi)) << "1M read, in whatever order";
}

struct Request {
    std::uint64_t file = 0;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::uint64_t writer = 0;  // the file handle's
};

// A read of `size` bytes of `file` in `request`-byte requests, shuffled
// within consecutive groups of `group` with a seeded generator: the order in
// which worker threads may take up the requests a reader has in flight.
std::vector<Request> shuffled_read(std::uint64_t file, std::uint64_t size, std::uint64_t request, std::size_t group,
                                   std::uint64_t seed) {
    std::vector<Request> out;
    for (std::uint64_t off = 0; off < size; off += request)
        out.push_back({file, off, std::min(request, size - off), file});
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < out.size(); i += group)
        std::shuffle(out.begin() + i, out.begin() + std::min(i + group, out.size()), rng);
    return out;
}

// The same read with each request moved back by up to `spread` - 1 places:
// ordered by its index plus a seeded random 0 .. spread - 1.
std::vector<Request> jittered_read(std::uint64_t file, std::uint64_t size, std::uint64_t request, std::uint64_t spread,
                                   std::uint64_t seed) {
    std::vector<Request> in = shuffled_read(file, size, request, 1, seed);
    std::vector<std::uint64_t> key(in.size());
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < in.size(); ++i) key[i] = i + rng() % spread;
    std::vector<std::size_t> order(in.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return key[a] < key[b]; });
    std::vector<Request> out;
    for (std::size_t i : order) out.push_back(in[i]);
    return out;
}

// Two reads taken up together, each next request from either at random.
std::vector<Request> interleaved(const std::vector<Request>& a, const std::vector<Request>& b, std::uint64_t seed) {
    std::vector<Request> out;
    std::mt19937_64 rng(seed);
    std::size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) out.push_back(j == b.size() || (i < a.size() && rng() % 2) ? a[i++] : b[j++]);
    return out;
}

// The bytes of each file that would be inserted: those of requests that do
// not bypass.
std::map<std::uint64_t, std::uint64_t> inserted(const std::vector<Request>& requests, std::uint64_t cutoff) {
    SequentialDetector d;
    std::map<std::uint64_t, std::uint64_t> bytes;
    for (const Request& r : requests)
        if (!d.check(r.file, r.offset, r.length, r.writer, kT0, cutoff)) bytes[r.file] += r.length;
    return bytes;
}

constexpr std::uint64_t kFileSize = 64 * kMi;
constexpr std::uint64_t kReadahead = 128 * kKi;

TEST(SequentialDetector, AReorderedSequentialReadInsertsAtMostTheCutoffAndOneWindow) {
    const std::uint64_t cutoff = 4 * kMi;
    const std::uint64_t bound = cutoff + sequential_window(cutoff);
    ASSERT_EQ(sequential_window(cutoff), 1 * kMi);
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
        for (std::size_t group : {1, 2, 4, 8}) {
            const std::uint64_t got = inserted(shuffled_read(1, kFileSize, kReadahead, group, seed), cutoff)[1];
            EXPECT_LE(got, bound) << "groups of " << group << ", seed " << seed;
            EXPECT_GE(got, cutoff - kReadahead) << "groups of " << group << ", seed " << seed;
        }
        for (std::uint64_t spread : {2, 4, 8})
            EXPECT_LE(inserted(jittered_read(1, kFileSize, kReadahead, spread, seed), cutoff)[1], bound)
                << "moved by up to " << spread - 1 << ", seed " << seed;
    }
}

TEST(SequentialDetector, AWindowOfTwoMiBTakesSixteenReadaheadRequestsShuffled) {
    // 2 MiB is the window from a cutoff of 8 MiB on.
    const std::uint64_t cutoff = 8 * kMi;
    ASSERT_EQ(sequential_window(cutoff), kSequentialWindow);
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
        EXPECT_LE(inserted(shuffled_read(1, kFileSize, kReadahead, 16, seed), cutoff)[1], cutoff + kSequentialWindow)
            << seed;
        EXPECT_LE(inserted(jittered_read(1, kFileSize, kReadahead, 16, seed), cutoff)[1], cutoff + kSequentialWindow)
            << seed;
    }
}

TEST(SequentialDetector, TwoRequestsOfOneMiBSwappedStayInTheRun) {
    // The largest requests the FUSE layer takes: the window is two of them.
    const std::uint64_t cutoff = 4 * kMi;
    for (std::uint64_t seed = 1; seed <= 10; ++seed)
        EXPECT_LE(inserted(shuffled_read(1, kFileSize, 1 * kMi, 2, seed), cutoff)[1], cutoff + kSequentialWindow)
            << seed;
}

TEST(SequentialDetector, TwoFilesReadAtOnceAreTwoRuns) {
    const std::uint64_t cutoff = 4 * kMi;
    const std::uint64_t bound = cutoff + sequential_window(cutoff);
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
        auto bytes = inserted(interleaved(shuffled_read(1, kFileSize, kReadahead, 8, seed),
                                          jittered_read(2, kFileSize, kReadahead, 8, seed + 100), seed),
                              cutoff);
        EXPECT_LE(bytes[1], bound) << seed;
        EXPECT_LE(bytes[2], bound) << seed;
    }
}

TEST(SequentialDetector, TwoReadersOfOneFileAreTwoRuns) {
    // The second reader starts when the first is 16 MiB in, through its own
    // file handle (writer).
    const std::uint64_t cutoff = 4 * kMi;
    const std::vector<Request> first = shuffled_read(1, kFileSize, kReadahead, 4, 7);
    std::vector<Request> second = shuffled_read(1, kFileSize, kReadahead, 4, 8);
    for (Request& r : second) r.writer = 2;
    const auto lead = static_cast<std::ptrdiff_t>(16 * kMi / kReadahead);
    std::vector<Request> all(first.begin(), first.begin() + lead);
    const std::vector<Request> rest(first.begin() + lead, first.end());
    for (const Request& r : interleaved(rest, second, 9)) all.push_back(r);
    // Each reader's requests that do not bypass, by writer: the second one
    // reads again what the first read, but makes a run of its own.
    SequentialDetector d;
    std::map<std::uint64_t, std::uint64_t> bytes;
    for (const Request& r : all)
        if (!d.check(r.file, r.offset, r.length, r.writer, kT0, cutoff)) bytes[r.writer] += r.length;
    EXPECT_LE(bytes[1], cutoff + sequential_window(cutoff));
    EXPECT_LE(bytes[2], cutoff + sequential_window(cutoff));
}

// Requests of `length` at `count` offsets from `pick`, and how many bypass.
template <typename Pick>
std::uint64_t bypassed(std::uint64_t count, std::uint64_t length, std::uint64_t cutoff, Pick pick) {
    SequentialDetector d;
    std::uint64_t n = 0;
    for (std::uint64_t i = 0; i < count; ++i) n += d.check(1, pick(i), length, 1, kT0, cutoff);
    return n;
}

TEST(SequentialDetector, RandomReadsMakeNoRun) {
    std::mt19937_64 rng(5);
    // 4K reads anywhere in a 1 GiB file.
    for (std::uint64_t cutoff : {64 * kKi, 1 * kMi, 4 * kMi})
        EXPECT_EQ(bypassed(100000, 4 * kKi, cutoff, [&](std::uint64_t) { return rng() % (256 * kKi) * 4 * kKi; }), 0u)
            << cutoff;
    // Each block of a 16 MiB file once, in random order: all near each other.
    std::vector<std::uint64_t> blocks(4096);
    std::iota(blocks.begin(), blocks.end(), 0);
    std::shuffle(blocks.begin(), blocks.end(), rng);
    for (std::uint64_t cutoff : {1 * kMi, 4 * kMi})
        EXPECT_EQ(bypassed(blocks.size(), 4 * kKi, cutoff, [&](std::uint64_t i) { return blocks[i] * 4 * kKi; }), 0u)
            << cutoff;
}

TEST(SequentialDetector, AHotSetReadOverAndOverMakesNoRun) {
    std::mt19937_64 rng(6);
    // 4K reads of a 4 MiB hot set, so every gap fills again and again.
    EXPECT_EQ(bypassed(100000, 4 * kKi, 1 * kMi, [&](std::uint64_t) { return rng() % 1024 * 4 * kKi; }), 0u);
    EXPECT_EQ(bypassed(100000, 4 * kKi, 4 * kMi, [&](std::uint64_t) { return rng() % 4096 * 4 * kKi; }), 0u);
    // 64K reads of a 64 MiB one.
    EXPECT_EQ(bypassed(100000, 64 * kKi, 4 * kMi, [&](std::uint64_t) { return rng() % 1024 * 64 * kKi; }), 0u);
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
    const BypassTunables t{
        .sequential_cutoff = 0, .congested_read_threshold_us = 2000, .congested_write_threshold_us = 20000};
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
