// bcache's priority_stats over a real cache set: buckets by mark, ages by
// prio, and the text bcache prints.
#include "bcachefs_lite/cache/priority_stats.h"

#include <numeric>
#include <sstream>

#include "cache_fixture.h"

namespace bcl::test {
namespace {

class PriorityStatsTest : public CacheTest {
protected:
    void SetUp() override {
        CacheTest::SetUp();
        format_cache(64);
        open_set();
    }
    // Reads a new file of `buckets` buckets through the engine.
    void cache_file(const std::string& name, int buckets) {
        const std::string data = random_bytes(rng_, buckets * kTestBucketSize);
        write_whole(path(name), data);
        EngineFile f(*set_, path(name));
        ASSERT_EQ(f.read_chunked(0, data.size()), data);
    }
    PriorityStats stats() {
        EXPECT_TRUE(set_->run_gc());
        auto s = set_->priority_stats();
        EXPECT_TRUE(s) << s.error().message;
        return s ? s.value() : PriorityStats{};
    }
};

TEST_F(PriorityStatsTest, AnEmptyCacheIsAllUnused) {
    const PriorityStats s = stats();
    EXPECT_EQ(s.buckets, 64u);
    EXPECT_EQ(s.unused, 64u);
    EXPECT_EQ(s.clean + s.dirty + s.pinned, 0u);
    EXPECT_EQ(s.average_age, 0u);
    EXPECT_EQ(s.sectors_per_quantile, 0u);
}

TEST_F(PriorityStatsTest, CachedDataCountsAsCleanAndAgesAsTheCacheIsRead) {
    cache_file("old", 4);
    PriorityStats s = stats();
    EXPECT_EQ(s.buckets, 64u);
    EXPECT_GE(s.clean, 4u);
    EXPECT_EQ(s.unused + s.clean + s.dirty + s.pinned, s.buckets);
    EXPECT_EQ(s.sectors_per_quantile, s.clean * (kTestBucketSize / kSectorSize) / 32);
    const std::uint64_t young = s.average_age;

    // Reading other data ages the buckets of "old" (prios are rescaled as
    // the cache is read), so its buckets are now the oldest.
    cache_file("new", 8);
    EngineFile f(*set_, path("new"));
    for (int i = 0; i < 4; ++i) f.read_chunked(0, 8 * kTestBucketSize);
    s = stats();
    EXPECT_GT(s.average_age, young);
    EXPECT_TRUE(std::is_sorted(s.quantiles.begin(), s.quantiles.end())) << "youngest first";
    EXPECT_EQ(s.quantiles.front(), 0u) << "just read";
    EXPECT_GT(s.quantiles.back(), 0u);
}

TEST_F(PriorityStatsTest, NotCountedWhileAGcPassRuns) {
    cache_file("a", 2);
    set_->alloc().device(0).gc_start();
    auto s = set_->priority_stats();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, Errc::again);
    set_->alloc().device(0).gc_finish();
    ASSERT_TRUE(set_->run_gc());
    EXPECT_TRUE(set_->priority_stats());
}

TEST(FormatPriorityStats, PrintsAsBcacheDoes) {
    PriorityStats s;
    s.buckets = 200;
    s.unused = 25;
    s.clean = 150;
    s.dirty = 24;
    s.pinned = 1;
    s.average_age = 1234;
    s.sectors_per_quantile = 4096;
    std::iota(s.quantiles.begin(), s.quantiles.end(), 0u);
    const std::string text = format_priority_stats(s);
    std::istringstream in(text);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    ASSERT_EQ(lines.size(), 7u) << text;
    EXPECT_EQ(lines[0], "Unused:         12%");
    EXPECT_EQ(lines[1], "Clean:          75%");
    EXPECT_EQ(lines[2], "Dirty:          12%");
    EXPECT_EQ(lines[3], "Pinned:         0%");
    EXPECT_EQ(lines[4], "Average:        1234");
    EXPECT_EQ(lines[5], "Sectors per Q:  4096");
    EXPECT_EQ(lines[6].rfind("Quantiles:      [0 1 2 ", 0), 0u) << lines[6];
    EXPECT_EQ(lines[6].substr(lines[6].size() - 4), " 30]");
}

}  // namespace
}  // namespace bcl::test
