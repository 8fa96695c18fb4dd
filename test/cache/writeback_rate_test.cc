// The writeback rate controller, as bcache's __update_writeback_rate.
#include <gtest/gtest.h>

#include "writeback/rate.h"

namespace bcl {
namespace {

constexpr std::uint64_t kMin = 4096;
constexpr auto kStep = std::chrono::seconds(5);

TEST(WritebackRate, BelowTheTargetItTricklesAtTheMinimum) {
    WritebackRate r(kMin);
    r.update(1'000'000, 10'000'000, kMin, kStep, true);
    EXPECT_EQ(r.rate(), kMin);
    EXPECT_LT(r.proportional(), 0);
    EXPECT_EQ(r.integral(), 0);  // never grows below target from zero
}

TEST(WritebackRate, AboveTheTargetTheProportionalTermIsAFortiethOfTheError) {
    WritebackRate r(kMin);
    r.update(50'000'000, 10'000'000, kMin, kStep, true);
    EXPECT_EQ(r.proportional(), 1'000'000);
    EXPECT_EQ(r.integral(), 40'000'000 * 5 / 10'000);
    EXPECT_EQ(r.rate(), static_cast<std::uint64_t>(r.proportional() + r.integral()));
}

TEST(WritebackRate, TheIntegralGrowsOnlyWhileWritebackKeepsUpAndShrinksBackBelowTarget) {
    WritebackRate r(kMin);
    r.update(50'000'000, 10'000'000, kMin, kStep, true);
    const std::int64_t once = r.integral();
    r.update(50'000'000, 10'000'000, kMin, kStep, false);
    EXPECT_EQ(r.integral(), once);  // anti-windup
    r.update(50'000'000, 10'000'000, kMin, kStep, true);
    EXPECT_EQ(r.integral(), 2 * once);
    r.update(0, 10'000'000, kMin, kStep, true);
    EXPECT_LT(r.integral(), 2 * once);
    EXPECT_EQ(r.rate(), kMin);
}

TEST(WritebackRate, TheRateIsClampedToTheMaximum) {
    WritebackRate r(kMin);
    r.update(UINT64_MAX / 4, 0, kMin, kStep, true);
    EXPECT_EQ(r.rate(), kWritebackRateMax);
}

}  // namespace
}  // namespace bcl
