// FlushProgress: the rate, the time left and the lines `bcachefs-lite-ctl
// flush` shows, from samples at made-up times.
#include "flush_progress.h"

#include <gtest/gtest.h>

namespace bcl::ctl {
namespace {

using namespace std::chrono_literals;
using Clock = FlushProgress::Clock;

TEST(FlushProgress, NoRateUntilTwoSamplesShowAFall) {
    FlushProgress p;
    const Clock::time_point t0{};
    p.sample(t0, 1 << 20);
    EXPECT_FALSE(p.rate());
    EXPECT_FALSE(p.time_left());
    EXPECT_EQ(p.plain_line(), "1.0MiB dirty, -/s, --:-- left");
    p.sample(t0 + 200ms, 1 << 20);
    EXPECT_FALSE(p.rate()) << "nothing was written back";
}

TEST(FlushProgress, RateAndTimeLeftFromTheFall) {
    FlushProgress p;
    const Clock::time_point t0{};
    p.sample(t0, 10 << 20);
    p.sample(t0 + 1s, 9 << 20);
    p.sample(t0 + 2s, 8 << 20);
    ASSERT_TRUE(p.rate());
    EXPECT_DOUBLE_EQ(*p.rate(), 1 << 20);
    ASSERT_TRUE(p.time_left());
    EXPECT_EQ(*p.time_left(), 8s);
    EXPECT_EQ(p.plain_line(), "8.0MiB dirty, 1.0MiB/s, 0:08 left");
    EXPECT_EQ(p.peak(), 10u << 20);
}

// Only the last few seconds count: a flush that sped up shows its new rate.
TEST(FlushProgress, RateForgetsSamplesOutsideTheWindow) {
    FlushProgress p;
    const Clock::time_point t0{};
    p.sample(t0, 100 << 20);
    p.sample(t0 + 10s, 99 << 20);                                                      // 0.1 MiB/s for ten seconds
    for (int i = 1; i <= 5; ++i) p.sample(t0 + 10s + i * 1s, (99 << 20) - (i << 22));  // 4 MiB/s
    ASSERT_TRUE(p.rate());
    EXPECT_DOUBLE_EQ(*p.rate(), 4 << 20);
}

TEST(FlushProgress, GrowingDirtyDataHasNoRate) {
    FlushProgress p;
    const Clock::time_point t0{};
    p.sample(t0, 1000);
    p.sample(t0 + 1s, 5000);
    EXPECT_FALSE(p.rate());
    EXPECT_EQ(p.peak(), 5000u);
}

TEST(FlushProgress, BarCountsDownFromThePeak) {
    FlushProgress p;
    const Clock::time_point t0{};
    p.sample(t0, 4000);
    EXPECT_EQ(p.bar_line().substr(0, 2 + FlushProgress::kBarWidth), "[" + std::string(30, '.') + "]");
    p.sample(t0 + 1s, 1000);
    const std::string bar = p.bar_line();
    EXPECT_EQ(bar.substr(0, 2 + FlushProgress::kBarWidth), "[" + std::string(22, '#') + std::string(8, '.') + "]");
    EXPECT_NE(bar.find("1000B dirty  2.9KiB/s  0:01 left"), std::string::npos) << bar;
    p.sample(t0 + 2s, 0);
    EXPECT_EQ(p.bar_line().substr(0, 2 + FlushProgress::kBarWidth), "[" + std::string(30, '#') + "]");
}

TEST(FlushProgress, Durations) {
    EXPECT_EQ(format_duration(0s), "0:00");
    EXPECT_EQ(format_duration(7s), "0:07");
    EXPECT_EQ(format_duration(754s), "12:34");
    EXPECT_EQ(format_duration(3723s), "1:02:03");
    EXPECT_EQ(format_duration(-5s), "0:00");
}

}  // namespace
}  // namespace bcl::ctl
