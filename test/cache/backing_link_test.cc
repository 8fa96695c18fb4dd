// BackingLink (cache/backing_link.h): which errors take the link down, a
// call in flight past the timeout too, and exactly one log line per change
// of state, also when reports race.
#include "bcachefs_lite/cache/backing_link.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "log_lines.h"

namespace bcl::test {
namespace {

// A link that logs into `lines`.
class BackingLinkTest : public testing::Test {
protected:
    LogLines lines;
    Logger log{LogLevel::info, lines.sink()};
    BackingLink link{log};
};

TEST_F(BackingLinkTest, UnreachableNamesTheErrorsOfABackingThatIsGone) {
    for (int err : {ENOTCONN, ECONNABORTED, ECONNRESET, ECONNREFUSED, EHOSTDOWN, EHOSTUNREACH, ENETDOWN, ENETUNREACH,
                    ENETRESET, ETIMEDOUT, ESHUTDOWN, EIO, ENOLINK, ECOMM, EREMOTEIO})
        EXPECT_TRUE(BackingLink::unreachable(err)) << err;
    for (int err : {0, ENOENT, EACCES, EPERM, ENOSPC, EISDIR, ESTALE, EINVAL, EROFS})
        EXPECT_FALSE(BackingLink::unreachable(err)) << err;
}

TEST_F(BackingLinkTest, OneLinePerChangeOfStateAndNoneForOtherErrors) {
    link.failed(sys_error(ENOENT, "lookup"));
    link.failed(make_error(Errc::io, "an error of the engine's own, with no errno"));
    link.answered();
    EXPECT_FALSE(link.down());

    link.failed(sys_error(ENOTCONN, "statx"));
    link.failed(sys_error(ETIMEDOUT, "open"));
    link.failed(sys_error(ENOTCONN, "statx"));
    EXPECT_TRUE(link.down());
    EXPECT_EQ(lines.count(LogLevel::warn, kDownLine), 1u);
    EXPECT_EQ(lines.count(LogLevel::warn, "(Transport endpoint is not connected): fully cached files stay readable"),
              1u);

    link.answered();
    link.answered();
    EXPECT_FALSE(link.down());
    EXPECT_EQ(lines.count(LogLevel::info, kUpLine), 1u);
    link.failed(sys_error(EIO, "read"));
    EXPECT_TRUE(link.down());
    EXPECT_EQ(lines.count(LogLevel::warn, kDownLine), 2u);
}

TEST_F(BackingLinkTest, RacingReportsLogOneLinePerChange) {
    const auto race = [&](auto&& report) {
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < 1000; ++i) report();
            });
        for (auto& th : threads) th.join();
    };
    race([&] { link.failed(sys_error(ENOTCONN, "statx")); });
    race([&] { link.answered(); });
    EXPECT_EQ(lines.count(LogLevel::warn, kDownLine), 1u);
    EXPECT_EQ(lines.count(LogLevel::info, kUpLine), 1u);
    EXPECT_FALSE(link.down());
}

constexpr std::int64_t kSecond = 1'000'000'000;

TEST_F(BackingLinkTest, ACallInFlightPastTheTimeoutTakesTheLinkDownOnce) {
    link.set_timeout(30);
    const std::int64_t t0 = 1000 * kSecond;
    link.check(t0 + 3600 * kSecond);
    EXPECT_FALSE(link.down()) << "no call in flight";
    EXPECT_FALSE(link.busy());
    {
        const BackingLink::Call early = link.begin_call(t0 + 10 * kSecond);
        const BackingLink::Call call = link.begin_call(t0);
        EXPECT_TRUE(link.busy());
        EXPECT_FALSE(link.hanging());
        link.check(t0 + 30 * kSecond);
        EXPECT_FALSE(link.down()) << "at the timeout, not past it";
        link.check(t0 + 31 * kSecond);
        link.check(t0 + 32 * kSecond);
        EXPECT_TRUE(link.down()) << "the oldest call counts, not the first begun";
        EXPECT_TRUE(link.hanging());
        EXPECT_EQ(lines.count(LogLevel::warn, kDownLine), 1u);
        EXPECT_EQ(lines.count(LogLevel::warn, "a call has waited 31 s; cached files stay readable"), 1u);
    }
    EXPECT_FALSE(link.busy());
    EXPECT_FALSE(link.hanging());
    EXPECT_TRUE(link.down()) << "a call that ends says nothing; its success does";
    link.answered();
    EXPECT_FALSE(link.down());
    EXPECT_EQ(lines.count(LogLevel::info, kUpLine), 1u);
}

TEST_F(BackingLinkTest, NoTimeoutNeverTakesTheLinkDown) {
    link.set_timeout(0);
    const BackingLink::Call call = link.begin_call(0);
    link.check(86400 * kSecond);
    EXPECT_FALSE(link.down());
    EXPECT_EQ(lines.count(LogLevel::warn, kDownLine), 0u);
}

TEST_F(BackingLinkTest, ACallEndsWhenItsGuardGoes) {
    link.set_timeout(1);
    BackingLink::Call outer;
    {
        BackingLink::Call call = link.begin_call(0);
        outer = std::move(call);
    }
    EXPECT_TRUE(link.busy()) << "moved, not ended";
    outer = BackingLink::Call();
    EXPECT_FALSE(link.busy());
    link.check(10 * kSecond);
    EXPECT_FALSE(link.down());
}

}  // namespace
}  // namespace bcl::test
