// BackingLink (cache/backing_link.h): which errors take the link down, and
// exactly one log line per change of state, also when reports race.
#include "bcachefs_lite/cache/backing_link.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "log_lines.h"

namespace bcl::test {
namespace {

TEST(BackingLinkTest, UnreachableNamesTheErrorsOfABackingThatIsGone) {
    for (int err : {ENOTCONN, ECONNABORTED, ECONNRESET, ECONNREFUSED, EHOSTDOWN, EHOSTUNREACH, ENETDOWN, ENETUNREACH,
                    ENETRESET, ETIMEDOUT, ESHUTDOWN, EIO, ENOLINK, ECOMM, EREMOTEIO})
        EXPECT_TRUE(BackingLink::unreachable(err)) << err;
    for (int err : {0, ENOENT, EACCES, EPERM, ENOSPC, EISDIR, ESTALE, EINVAL, EROFS})
        EXPECT_FALSE(BackingLink::unreachable(err)) << err;
}

TEST(BackingLinkTest, OneLinePerChangeOfStateAndNoneForOtherErrors) {
    LogLines lines;
    Logger log(LogLevel::info, lines.sink());
    BackingLink link(log);
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

TEST(BackingLinkTest, RacingReportsLogOneLinePerChange) {
    LogLines lines;
    Logger log(LogLevel::info, lines.sink());
    BackingLink link(log);
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

}  // namespace
}  // namespace bcl::test
