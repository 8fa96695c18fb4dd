// IoErrorCounter: bcache's decaying error count.
#include "bcachefs_lite/device/io_error_counter.h"

#include <gtest/gtest.h>

namespace bcl {
namespace {

TEST(IoErrorCounter, ErrorsAddUpToTheLimitWithoutHalflife) {
    IoErrorCounter c(IoErrorTunables{3, 0});
    EXPECT_FALSE(c.count(true));
    EXPECT_FALSE(c.count(true));
    for (int i = 0; i < 10000; ++i) EXPECT_FALSE(c.count(false));
    EXPECT_EQ(c.errors(), 2u);
    EXPECT_TRUE(c.count(true));
    EXPECT_TRUE(c.count(true)) << "over the limit stays over it";
    EXPECT_FALSE(c.count(false)) << "only a failed request is over the limit";
    EXPECT_EQ(c.errors(), 4u);
    EXPECT_EQ(c.ios(), 10005u);
}

TEST(IoErrorCounter, LimitZeroTripsAtTheFirstError) {
    IoErrorCounter c(IoErrorTunables{0, 0});
    EXPECT_FALSE(c.count(false));
    EXPECT_TRUE(c.count(true));
}

TEST(IoErrorCounter, DefaultsAreBcaches) {
    IoErrorCounter c;
    EXPECT_EQ(c.tunables(), (IoErrorTunables{8, 0}));
    for (int i = 0; i < 7; ++i) EXPECT_FALSE(c.count(true));
    EXPECT_TRUE(c.count(true));
}

TEST(IoErrorCounter, AnErrorWeighsHalfAfterAboutAHalflife) {
    // 880 I/Os: a decay step every 10.
    IoErrorCounter c(IoErrorTunables{1000, 880});
    EXPECT_EQ(c.tunables().io_error_halflife, 880u);
    for (int i = 0; i < 10; ++i) c.count(true);
    EXPECT_EQ(c.errors(), 9u) << "one decay step at the 10th I/O";
    // A halflife of I/Os (88 steps) later, about half is left.
    for (int i = 0; i < 880; ++i) c.count(false);
    EXPECT_EQ(c.errors(), 4u);  // 9.9 * (127/128)^88 = 4.97, rounded down
    for (int i = 0; i < 880; ++i) c.count(false);
    EXPECT_EQ(c.errors(), 2u);
    for (int i = 0; i < 880 * 20; ++i) c.count(false);
    EXPECT_EQ(c.errors(), 0u);
}

TEST(IoErrorCounter, TheHalflifeIsKeptAsAMultipleOf88) {
    IoErrorCounter c;
    c.set_tunables(IoErrorTunables{5, 1000});
    EXPECT_EQ(c.tunables(), (IoErrorTunables{5, 968}));
    c.set_tunables(IoErrorTunables{5, 87});
    EXPECT_EQ(c.tunables(), (IoErrorTunables{5, 0}));
}

}  // namespace
}  // namespace bcl
