// bcachefs-lite-ctl stats against a real mount: the grouped text and the
// JSON carry the figures getxattr gives, --watch prints a header and a line
// an interval and ends cleanly on SIGINT, a file shows its cached bytes, a
// user without privileges reads an allow_other mount, and the errors (a
// missing path, a directory that is no mount, a mount in mode=none) are
// one line each.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fmt/format.h>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cache_e2e.h"
#include "json_check.h"
#include "stats_text.h"

namespace bcl::test {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kFileSize = 256 << 10;

RunResult ctl_stats(const std::vector<std::string>& args) {
    std::vector<std::string> argv{ctl_path(), "stats"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv);
}

// One line on stderr (run_program gives stdout and stderr together; a
// refusal prints nothing on stdout), naming the program and `needle`.
void expect_one_line_error(const RunResult& r, const std::string& needle) {
    EXPECT_TRUE(r.exited_with(1)) << r.err;
    EXPECT_EQ(r.err.rfind("bcachefs-lite-ctl: ", 0), 0u) << r.err;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line:\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in\n" << r.err;
}

class CtlStatsTest : public CacheMountTest {
protected:
    void SetUp() override {
        if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
        CacheMountTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        std::mt19937_64 rng(22);
        put_backing("a.bin", random_bytes(rng, kFileSize));
    }

    // Reads a.bin through the daemon (O_DIRECT: the kernel's page cache
    // would answer a second read itself): a miss, then a hit.
    void read_twice() {
        for (int i = 0; i < 2; ++i) {
            auto data = read_whole(m("a.bin"), true);
            ASSERT_TRUE(data.has_value());
            ASSERT_EQ(data->size(), kFileSize);
        }
    }
};

TEST_F(CtlStatsTest, GroupedTextHasTheCountsOfTheAttributes) {
    read_twice();
    const auto hits = stat_xattr(t().mnt(), "cache_hits");
    const auto misses = stat_xattr(t().mnt(), "cache_misses");
    ASSERT_TRUE(hits && misses);
    EXPECT_GT(*hits, 0u);
    EXPECT_GT(*misses, 0u);
    const RunResult r = ctl_stats({t().mnt()});
    ASSERT_TRUE(r.exited_with(0)) << r.err;
    EXPECT_EQ(r.err.rfind(t().mnt() + ": bcachefs-lite mount, cache_mode writethrough, state running\n", 0), 0u)
        << r.err;
    for (const char* group :
         {"hits and misses", "bypass", "writes and writeback", "buckets and GC", "errors", "devices"}) {
        EXPECT_NE(r.err.find(std::string("\n") + group + "\n"), std::string::npos) << group << "\n" << r.err;
    }
    EXPECT_EQ(text_value(r.err, "hits"), std::to_string(*hits)) << r.err;
    EXPECT_EQ(text_value(r.err, "misses"), std::to_string(*misses)) << r.err;
    const double ratio = static_cast<double>(*hits) * 100.0 / static_cast<double>(*hits + *misses);
    EXPECT_EQ(text_value(r.err, "hit ratio"), fmt::format("{:.1f}%", ratio)) << r.err;
    EXPECT_NE(r.err.find(t().cache_path()), std::string::npos) << "the devices table names the cache\n" << r.err;
}

TEST_F(CtlStatsTest, JsonParsesAndHasTheValuesOfTheAttributes) {
    read_twice();
    const RunResult r = ctl_stats({"--json", t().mnt()});
    ASSERT_TRUE(r.exited_with(0)) << r.err;
    JsonParser parser;
    auto j = parser.parse(r.err);
    ASSERT_TRUE(j) << parser.error() << "\n" << r.err;
    ASSERT_EQ(j->kind, Json::Kind::object);
    EXPECT_EQ((*j)["path"].text, t().mnt());
    EXPECT_EQ((*j)["cache_mode"].text, "writethrough");
    EXPECT_EQ((*j)["state"].text, "running");
    for (const char* name : {"cache_hits", "cache_misses", "bytes_read_cache", "bytes_read_backing", "buckets_total"}) {
        const auto value = stat_xattr(t().mnt(), name);
        ASSERT_TRUE(value) << name;
        ASSERT_TRUE(j->has(name)) << name;
        EXPECT_EQ((*j)[name].kind, Json::Kind::number) << name;
        EXPECT_EQ((*j)[name].text, std::to_string(*value)) << name;
    }
    EXPECT_EQ((*j)["hit_ratio"].kind, Json::Kind::number);
    const Json& devices = (*j)["devices"];
    ASSERT_EQ(devices.kind, Json::Kind::array);
    ASSERT_EQ(devices.array.size(), 1u);
    EXPECT_EQ(devices.array[0]["path"].text, t().cache_path());
    EXPECT_EQ(devices.array[0]["state"].text, "working");
}

TEST_F(CtlStatsTest, WatchPrintsAHeaderAndALineAnInterval) {
    const RunResult r = ctl_stats({"--watch", "0.1", "--count", "2", t().mnt()});
    ASSERT_TRUE(r.exited_with(0)) << r.err;
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 3u) << r.err;
    EXPECT_EQ(lines[0].rfind("time ", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find("hits/s"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("dirty"), std::string::npos) << lines[0];
    for (std::size_t i = 1; i < lines.size(); ++i) {
        std::istringstream in(lines[i]);
        std::vector<std::string> words;
        for (std::string w; in >> w;) words.push_back(w);
        EXPECT_EQ(words.size(), 8u) << lines[i];
    }

    const RunResult json = ctl_stats({t().mnt(), "--watch", "0.1", "--count", "2", "--json"});
    ASSERT_TRUE(json.exited_with(0)) << json.err;
    const auto json_lines = lines_of(json.err);
    ASSERT_EQ(json_lines.size(), 2u) << json.err;
    for (const std::string& line : json_lines) {
        JsonParser parser;
        auto j = parser.parse(line);
        ASSERT_TRUE(j) << parser.error() << "\n" << line;
        EXPECT_TRUE(j->has("hits_per_sec") && j->has("dirty_data")) << line;
    }
}

// Reads come in during the interval (2 s, for a slow machine's reads to
// fit in it): the line shows them as rates.
TEST_F(CtlStatsTest, WatchShowsTheReadsOfTheInterval) {
    const std::string log = t().base() + "/watch.out";
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) ::_exit(127);
        ::execl(ctl_path().c_str(), ctl_path().c_str(), "stats", "--watch", "2", "--count", "1", t().mnt().c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // The first reading is taken before the header is written.
    ASSERT_TRUE(wait_until([&] { return read_file(log).value_or("").find('\n') != std::string::npos; }))
        << read_file(log).value_or("");
    read_twice();
    const auto status = wait_exit(pid, kExitTimeout);
    if (!status) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << read_file(log).value_or("");
    const auto lines = lines_of(read_file(log).value_or(""));
    ASSERT_EQ(lines.size(), 2u);
    std::istringstream in(lines[1]);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    ASSERT_EQ(words.size(), 8u) << lines[1];
    EXPECT_GT(std::stod(words[1]), 0.0) << "hits/s\n" << lines[0] << "\n" << lines[1];
    EXPECT_GT(std::stod(words[2]), 0.0) << "misses/s\n" << lines[0] << "\n" << lines[1];
}

// Ctrl-C: the watch ends at once with exit 0, every line it printed whole.
TEST_F(CtlStatsTest, WatchEndsCleanlyOnSigint) {
    int pipefd[2];
    ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::dup2(pipefd[1], 1) < 0) ::_exit(127);
        ::execl(ctl_path().c_str(), ctl_path().c_str(), "stats", "--watch", "0.05", t().mnt().c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(pipefd[1]);
    // Read until the header and two rate lines are out, at most kExitTimeout.
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
    auto read_some = [&](int timeout_ms) {
        struct pollfd pfd {
            pipefd[0], POLLIN, 0
        };
        if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
        char buf[4096];
        const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n <= 0) return false;
        out.append(buf, static_cast<std::size_t>(n));
        return true;
    };
    while (lines_of(out).size() < 3 && std::chrono::steady_clock::now() < deadline) read_some(100);
    ASSERT_EQ(::kill(pid, SIGINT), 0);
    const auto status = wait_exit(pid, kExitTimeout);
    if (!status) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    while (read_some(0)) {
    }
    ::close(pipefd[0]);
    ASSERT_TRUE(status.has_value()) << "still running after SIGINT";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "status " << *status << "\n" << out;
    ASSERT_GE(lines_of(out).size(), 3u) << out;
    EXPECT_EQ(out.back(), '\n') << "a line cut in half:\n" << out;
}

TEST_F(CtlStatsTest, AFileShowsItsCachedBytes) {
    read_twice();
    const auto cached = cached_bytes(m("a.bin"));
    ASSERT_TRUE(cached);
    EXPECT_EQ(*cached, kFileSize);
    const RunResult r = ctl_stats({m("a.bin")});
    ASSERT_TRUE(r.exited_with(0)) << r.err;
    EXPECT_EQ(r.err.rfind(m("a.bin") + ": in the bcachefs-lite mount at " + t().mnt() + "\n", 0), 0u) << r.err;
    EXPECT_EQ(text_value(r.err, "size"), "256.0KiB (262144 bytes)") << r.err;
    EXPECT_EQ(text_value(r.err, "cached"), "256.0KiB (100.0% of the file)") << r.err;
    EXPECT_EQ(text_value(r.err, "dirty"), "0B (0.0% of the file)") << r.err;

    const RunResult json = ctl_stats({"--json", m("a.bin")});
    ASSERT_TRUE(json.exited_with(0)) << json.err;
    JsonParser parser;
    auto j = parser.parse(json.err);
    ASSERT_TRUE(j) << parser.error() << "\n" << json.err;
    EXPECT_EQ((*j)["cached_bytes"].text, std::to_string(*cached));
    EXPECT_EQ((*j)["size"].text, std::to_string(kFileSize));
    EXPECT_EQ((*j)["dirty_bytes"].text, "0");
    EXPECT_EQ((*j)["mount"].text, t().mnt());

    expect_one_line_error(ctl_stats({"--watch", "0.1", "--count", "1", m("a.bin")}), "give its root");
}

// Reading attributes needs no privilege: nobody reads an allow_other mount.
TEST_F(CtlStatsTest, WorksForAnUnprivilegedUser) {
    read_twice();
    const auto hits = stat_xattr(t().mnt(), "cache_hits");
    ASSERT_TRUE(hits);
    const std::string mnt = t().mnt();
    const std::string file = m("a.bin");
    const int code = run_as(kNobody, kNogroup, [&] {
        const RunResult root = ctl_stats({mnt});
        if (!root.exited_with(0)) return 1;
        if (text_value(root.err, "hits") != std::to_string(*hits)) return 2;
        const RunResult f = ctl_stats({file});
        if (!f.exited_with(0)) return 3;
        if (text_value(f.err, "cached") != "256.0KiB (100.0% of the file)") return 4;
        const RunResult w = ctl_stats({"--watch", "0.05", "--count", "1", mnt});
        if (!w.exited_with(0) || lines_of(w.err).size() != 2) return 5;
        return 0;
    });
    EXPECT_EQ(code, 0) << "1, 2: the mount; 3, 4: the file; 5: --watch";
}

TEST_F(CtlStatsTest, ErrorsAreOneLine) {
    expect_one_line_error(ctl_stats({m("absent")}), "No such file or directory");
    expect_one_line_error(ctl_stats({t().backing()}), "is not in a bcachefs-lite mount");
    expect_one_line_error(ctl_stats({b("a.bin")}), b("a.bin") + " is not in a bcachefs-lite mount");
    const RunResult usage = ctl_stats({"--count", "2", t().mnt()});
    EXPECT_TRUE(usage.exited_with(2)) << usage.err;
    const RunResult bad_interval = ctl_stats({"--watch", "soon", t().mnt()});
    EXPECT_TRUE(bad_interval.exited_with(2)) << bad_interval.err;
}

class CtlStatsModeNoneTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        spec.options += ",mode=none";
        spec.cache_size = "";
        return spec;
    }
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
        mount_ = std::make_unique<TestMount>(mount_spec(), TestMount::Deferred{});
        ASSERT_TRUE(mount_->error().empty()) << mount_->error();
        ASSERT_EQ(format_cache(t().cache_path(), "64M"), "");
        ASSERT_TRUE(write_file(b("a.bin"), "data"));
        ASSERT_TRUE(mount_->start()) << mount_->error();
    }
};

TEST_F(CtlStatsModeNoneTest, SaysStatisticsAreUnavailable) {
    expect_one_line_error(ctl_stats({t().mnt()}), "unavailable in mode none");
    expect_one_line_error(ctl_stats({m("a.bin")}), "in the bcachefs-lite mount at " + t().mnt());
    expect_one_line_error(ctl_stats({"--json", m("a.bin")}), "unavailable in mode none");
}

}  // namespace
}  // namespace bcl::test
