// AllocatorOptions::movinggc_reserve: off, free[movinggc] stays empty and
// nothing else changes (free[none] and free_inc as bcache sizes them).
#include <gtest/gtest.h>

#include "allocator_test_fixture.h"

namespace bcl {
namespace {

class MovinggcReserve : public ::testing::Test, protected test::AllocatorFixture {};

TEST_F(MovinggcReserve, OnByDefaultAsInBcache) {
    make();
    start_and_refill();
    EXPECT_EQ(movinggc().size(), a_->sizes().free);
    EXPECT_EQ(none().size(), a_->sizes().free);
    EXPECT_EQ(a_->reserve_capacity(), 2 * a_->sizes().free + a_->sizes().free_inc);
}

TEST_F(MovinggcReserve, OffKeepsNoBucketForIt) {
    AllocatorOptions o;
    o.movinggc_reserve = false;
    make(std::move(o));
    start_and_refill();
    EXPECT_TRUE(movinggc().empty());
    EXPECT_EQ(none().size(), a_->sizes().free);
    EXPECT_EQ(a_->free_inc().size(), a_->sizes().free_inc - a_->sizes().free)
        << "free_inc, filled whole, has given free[none] its buckets";
    EXPECT_EQ(a_->reserve_capacity(), a_->sizes().free + a_->sizes().free_inc);
    // An allocation that may dip into the reserve gets free[none]'s buckets.
    auto b = a_->bucket_alloc(Reserve::movinggc, false);
    ASSERT_TRUE(b) << b.error().message;
    a_->put(b.value());
}

}  // namespace
}  // namespace bcl
