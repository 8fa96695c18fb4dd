// The buckets the cache keeps empty: free[movinggc], free[none] and free_inc
// as bcache sizes them; moving GC takes free[movinggc]'s.
#include "cache_fixture.h"

namespace bcl::test {
namespace {

TEST_F(CacheTest, TheMovinggcReserveIsKeptForMovingGc) {
    format_cache(96);
    open_set();
    set_->run_background_until_idle();
    const CacheAllocator& ca = set_->alloc().device(0);
    EXPECT_EQ(ca.freelist(Reserve::movinggc).size(), ca.sizes().free);
    EXPECT_EQ(ca.freelist(Reserve::none).size(), ca.sizes().free);
    EXPECT_EQ(ca.reserve_capacity(), 2 * ca.sizes().free + ca.sizes().free_inc);

    // A cache read through twice over holds all but those buckets (and the
    // one being filled).
    const std::size_t size = 2 * 96 * kTestBucketSize;
    write_whole(path("big"), random_bytes(rng_, size));
    EngineFile f(*set_, path("big"));
    f.read_chunked(0, size);
    ASSERT_TRUE(set_->run_gc());
    set_->run_background_until_idle();
    const CacheStats s = set_->stats();
    EXPECT_LE(s.buckets_free, ca.reserve_capacity()) << format_stats(s);
}

}  // namespace
}  // namespace bcl::test
