// End-to-end: a small cache (16 MiB) under a data set about three times
// its size, read twice over. Buckets are reused again and again: every read
// stays correct, hits keep coming after the cache filled up, the allocator
// keeps free buckets, and GC runs.
//
// The daemon's cache_size= formats with 512 KiB buckets, and a cache needs
// at least 64 of them, so the 16 MiB cache is formatted with
// bcachefs-lite-ctl with 128 KiB buckets (128 of them) and mounted as an
// existing cache.
#include <sched.h>
#include <sys/stat.h>

#include <chrono>
#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

class GcTest : public CacheMountTest {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
        MountSpec spec = mount_spec();
        spec.cache_size = "";
        mount_ = std::make_unique<TestMount>(spec, TestMount::Deferred{});
        ASSERT_TRUE(mount_->error().empty()) << mount_->error();
        ASSERT_EQ(format_cache(t().cache_path(), "16M", "128k"), "");
        ASSERT_TRUE(t().start()) << t().error();
    }
};

TEST_F(GcTest, ReadingThreeTimesTheCacheTwiceOverStaysCorrect) {
    constexpr std::size_t kDataSet = 48 << 20;
    std::mt19937_64 rng(77);
    std::vector<std::string> names;
    std::size_t total = 0;
    while (total < kDataSet) {
        std::string name = "d" + std::to_string(names.size());
        std::size_t size = (1 << 20) + rng() % (1 << 20) + rng() % 4096;
        put_backing(name, random_bytes(rng, size));
        names.push_back(name);
        total += size;
    }
    Stats s0 = stats();
    ASSERT_TRUE(s0.ok()) << s0.error();
    ASSERT_GT(s0["buckets_total"], 0u);
    struct stat cache_st {};
    ASSERT_EQ(::stat(t().cache_path().c_str(), &cache_st), 0);
    ASSERT_LE(cache_st.st_size, 16 << 20) << "the cache is not smaller than the data set";

    // Each file is read, then read again at once (which should hit);
    // progress is checked in sixths of the workload.
    const std::size_t reads = 2 * names.size();
    const std::size_t step = reads / 6;
    std::uint64_t hits_before = s0["cache_hits"];
    std::uint64_t min_free = s0["buckets_free"];
    std::size_t done = 0;
    for (int pass = 0; pass < 2; ++pass) {
        for (const std::string& name : names) {
            for (int again = 0; again < 2; ++again) {
                int err = 0;
                auto got = read_whole(m(name), again == 1, &err);
                ASSERT_TRUE(got.has_value()) << name << " pass " << pass << ": " << std::strerror(err);
                ASSERT_TRUE(*got == expected_[name]) << name << " pass " << pass << " read " << again << " is wrong";
            }
            Stats s = stats();
            ASSERT_TRUE(s.ok()) << s.error();
            min_free = std::min(min_free, s["buckets_free"]);
            if (++done % step == 0) {
                EXPECT_GT(s["cache_hits"], hits_before)
                    << "no hits between " << done - step << " and " << done << " files\n"
                    << s.text();
                hits_before = s["cache_hits"];
            }
        }
    }

    Stats end = stats();
    ASSERT_TRUE(end.ok()) << end.error();
    EXPECT_GT(end["bytes_read_cache"], 0u);
    // The mount runs one GC pass before it serves; reading three times the
    // cache's size must have run more (bcache runs GC each time about a
    // sixteenth of the cache has been written), and the bucket figures GC
    // computes must have shown the cache filling up.
    EXPECT_GT(end["gc_runs"], 0u) << end.text();
    EXPECT_GT(end["gc_runs"], s0["gc_runs"]) << "GC never ran while the cache filled up\n" << end.text();
    EXPECT_LT(min_free, s0["buckets_total"]) << "buckets_free never showed the cache filling up";
    // The allocator refills the freelists on its background strand, so
    // buckets_free may be 0 right after the last miss insert: re-read it
    // until it recovers (bounded; each read is a round trip to the daemon).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::uint64_t free_now = end["buckets_free"];
    while (free_now == 0 && std::chrono::steady_clock::now() < deadline) {
        ::sched_yield();
        free_now = stat_xattr(t().mnt(), "buckets_free").value_or(0);
    }
    EXPECT_GT(free_now, 0u) << "no free bucket came back; lowest seen " << min_free << "\n" << end.text();
    EXPECT_LE(free_now, end["buckets_total"]);
    RecordProperty("lowest_buckets_free", static_cast<int>(min_free));
    RecordProperty("gc_runs", static_cast<int>(end["gc_runs"]));

    // Still serving correctly, through both kinds of reads.
    expect_all_read_back();
    EXPECT_TRUE(is_mounted(t().mnt()));
}

}  // namespace
}  // namespace bcl::test
