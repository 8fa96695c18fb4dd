// End-to-end: the discard option. A cache on a loop device over a sparse
// image file: with discard, buckets are discarded on their way from
// free_inc to the freelists, the loop driver punches the discarded ranges
// out of the image, and the image's allocated blocks fall below the data
// area once buckets are being reused; without discard every bucket once
// written stays allocated (every bucket but moving GC's reserve is).
#include <sys/stat.h>

#include <random>
#include <string>

#include "bcachefs_lite/alloc/cache_allocator.h"
#include "bcachefs_lite/util/sector.h"
#include "cache_e2e.h"
#include "image_loop.h"

namespace bcl::test {
namespace {

constexpr std::uint64_t kImageBytes = 32 << 20;
constexpr std::uint64_t kBucket = 128 << 10;
// Three times the cache: every bucket is filled and reused.
constexpr int kFilesRead = 12;
constexpr std::size_t kFileBytes = 8 << 20;

class DiscardTest : public testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        std::string why;
        const auto outcome = cache_.start(
            kImageBytes, "128k",
            std::string("allow_other,entry_timeout=0,attr_timeout=0,") + (GetParam() ? "discard=1" : "discard=0"), why);
        if (outcome == LoopCacheMount::Outcome::skip) GTEST_SKIP() << why;
        ASSERT_EQ(outcome, LoopCacheMount::Outcome::mounted) << why;
        if (cache_.loop->discard_max_bytes() == 0) GTEST_SKIP() << cache_.loop->device() << " cannot discard";
    }

    LoopCacheMount cache_;
};

// Writes file `i` on the backing and reads it through the mount.
void read_new_file(LoopCacheMount& cache, std::mt19937_64& rng, int i) {
    const std::string name = "f" + std::to_string(i);
    const std::string data = random_bytes(rng, kFileBytes);
    ASSERT_TRUE(write_file(cache.mount->b(name), data));
    int err = 0;
    auto got = read_whole(cache.mount->m(name), /*direct=*/true, &err);
    ASSERT_TRUE(got.has_value()) << name << ": errno " << err;
    ASSERT_TRUE(*got == data) << name << " read back wrong";
}

TEST_P(DiscardTest, ReusedBucketsAreDiscardedOnlyWithTheOption) {
    const bool discard = GetParam();
    std::mt19937_64 rng(71);
    int files = 0;
    for (; files < kFilesRead; ++files) ASSERT_NO_FATAL_FAILURE(read_new_file(cache_, rng, files));
    const Stats s = Stats::read(cache_.mount->mnt());
    ASSERT_TRUE(s.ok()) << s.error();
    // The reads filled the cache several times over.
    EXPECT_GE(s["bytes_read_backing"], 2 * kImageBytes);

    // The data area, and what of it the image holds now.
    const std::uint64_t data_area = kImageBytes - kBucket;
    if (discard) {
        // Once the allocator has refilled its freelists (in the background),
        // at least the buckets on them are holes.
        EXPECT_TRUE(wait_until([&] { return cache_.loop->allocated() + 2 * kBucket <= data_area; }))
            << "allocated " << cache_.loop->allocated() << " of a data area of " << data_area;
    } else {
        // Every bucket gets written, and nothing gives its blocks back: all
        // but those moving GC keeps in its reserve (free[movinggc], which
        // only moving GC takes from, and this workload never fragments).
        // A miss whose insert found no free bucket ready (insert_no_space,
        // on a loaded machine) writes none, so more files are read until
        // the cache has gone round: at most four times as many.
        const std::uint64_t reserve =
            freelist_sizes(Geometry{kImageBytes / kBucket, 1, kBucket / kSectorSize, 8}).free * kBucket;
        const std::uint64_t every_bucket = data_area - kBucket - reserve;
        for (; cache_.loop->allocated() < every_bucket && files < 4 * kFilesRead; ++files)
            ASSERT_NO_FATAL_FAILURE(read_new_file(cache_, rng, files));
        const std::uint64_t allocated = cache_.loop->allocated();
        SCOPED_TRACE("allocated " + std::to_string(allocated) + " of a data area of " + std::to_string(data_area) +
                     " after " + std::to_string(files) + " files");
        EXPECT_GE(allocated, every_bucket);
    }
}

INSTANTIATE_TEST_SUITE_P(Discard, DiscardTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& p) { return p.param ? "On" : "Off"; });

}  // namespace
}  // namespace bcl::test
