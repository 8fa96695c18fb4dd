// What bcachefs-lite-ctl stats prints, from made-up readings: the groups
// cover every statistic the daemon offers, text and JSON carry the same
// figures, the devices table and name=value lines parse, and --watch's
// rates come out of two readings right (also across a restart).
#include "stats_view.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "bcachefs_lite/cache/stats.h"
#include "json.h"
#include "json_check.h"
#include "stats_text.h"

namespace bcl::ctl {
namespace {

using test::lines_of;
using test::text_value;

using test::Json;
using test::JsonParser;

MountStats sample_mount() {
    MountStats m;
    m.path = "/mnt/fast";
    m.mode = "writeback";
    m.state = "running";
    CacheStats s;
    s.cache_hits = 3;
    s.cache_misses = 1;
    s.bytes_read_cache = 3 << 20;
    s.bytes_read_backing = 1536;
    s.dirty_data = 8 << 20;
    s.buckets_total = 200;
    s.buckets_free = 50;
    for (const auto& [name, value] : stat_values(s)) m.values.emplace_back(std::string(name), value);
    m.devices = {DeviceRow{0, "working", 0, 25, 70, 5, 0, "/dev/sdb1"}, DeviceRow{1, "missing", 0, 0, 0, 0, 0, "-"}};
    return m;
}

TEST(StatsView, EveryStatisticOfTheDaemonIsInExactlyOneGroup) {
    std::multiset<std::string> in_groups;
    for (const StatGroup& g : stat_groups())
        for (const StatEntry& e : g.entries) in_groups.insert(std::string(e.name));
    for (std::string_view name : stat_names()) EXPECT_EQ(in_groups.count(std::string(name)), 1u) << name;
    EXPECT_EQ(in_groups.size(), stat_names().size()) << "a group names a statistic the daemon does not offer";
}

TEST(StatsView, ParsesNameValueLines) {
    auto v = parse_stat_lines("cache_hits=12\ncache_misses=0\n\n");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(find_stat(v.value(), "cache_hits"), 12u);
    EXPECT_EQ(find_stat(v.value(), "cache_misses"), 0u);
    EXPECT_FALSE(find_stat(v.value(), "gc_runs"));
    EXPECT_FALSE(parse_stat_lines("cache_hits=12x\n"));
    EXPECT_FALSE(parse_stat_lines("=12\n"));
    EXPECT_FALSE(parse_stat_lines("cache_hits\n"));
    EXPECT_FALSE(parse_stat_lines("cache_hits=-1\n"));
    EXPECT_FALSE(parse_stat_lines("cache_hits=18446744073709551616\n")) << "past 2^64";
    EXPECT_EQ(parse_stat_value("42\n"), 42u);
    EXPECT_EQ(parse_stat_value(std::string_view("7\0", 2)), 7u);
    EXPECT_FALSE(parse_stat_value(""));
    EXPECT_FALSE(parse_stat_value(" 1"));
}

TEST(StatsView, HitPercent) {
    EXPECT_FALSE(hit_percent(0, 0));
    EXPECT_DOUBLE_EQ(*hit_percent(3, 1), 75.0);
    EXPECT_DOUBLE_EQ(*hit_percent(0, 5), 0.0);
    EXPECT_DOUBLE_EQ(*hit_percent(5, 0), 100.0);
}

TEST(StatsView, TextShowsTheGroupsWithHumanUnits) {
    const std::string text = format_mount_text(sample_mount());
    EXPECT_EQ(text.rfind("/mnt/fast: bcachefs-lite mount, cache_mode writeback, state running\n", 0), 0u) << text;
    for (const StatGroup& g : stat_groups())
        EXPECT_NE(text.find("\n" + std::string(g.title) + "\n"), std::string::npos) << g.title;
    EXPECT_EQ(text_value(text, "hits"), "3");
    EXPECT_EQ(text_value(text, "misses"), "1");
    EXPECT_EQ(text_value(text, "hit ratio"), "75.0%") << "computed from the hits and misses shown";
    EXPECT_EQ(text_value(text, "read from cache"), "3.0MiB");
    EXPECT_EQ(text_value(text, "read from backing"), "1.5KiB");
    EXPECT_EQ(text_value(text, "dirty"), "8.0MiB");
    EXPECT_EQ(text_value(text, "available"), "25%");
    EXPECT_EQ(text_value(text, "writeback rate"), "0B/s");
    EXPECT_NE(text.find("\ndevices\n"), std::string::npos);
    EXPECT_NE(text.find("/dev/sdb1"), std::string::npos);
    EXPECT_EQ(text.find("\nother\n"), std::string::npos);
}

TEST(StatsView, TextBeforeAnyReadAndWithAStatisticOfANewerDaemon) {
    MountStats m = sample_mount();
    for (auto& [name, value] : m.values)
        if (name == "cache_hits" || name == "cache_misses") value = 0;
    m.values.emplace_back("frobs", 7);
    m.devices.clear();
    m.devices_unavailable = "unavailable: a GC pass was counting the buckets (try again)";
    const std::string text = format_mount_text(m);
    EXPECT_EQ(text_value(text, "hit ratio"), "- (no reads yet)");
    EXPECT_NE(text.find("\nother\n"), std::string::npos) << text;
    EXPECT_EQ(text_value(text, "frobs"), "7");
    EXPECT_NE(text.find("a GC pass was counting"), std::string::npos);
}

TEST(StatsView, JsonCarriesEveryStatisticAndTheDevices) {
    MountStats m = sample_mount();
    m.path = "/mnt/a \"quoted\"\npath\\";
    const std::string out = format_mount_json(m);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back(), '\n');
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one line";
    JsonParser parser;
    auto j = parser.parse(out);
    ASSERT_TRUE(j) << parser.error() << "\n" << out;
    EXPECT_EQ((*j)["path"].text, m.path);
    EXPECT_EQ((*j)["cache_mode"].text, "writeback");
    EXPECT_EQ((*j)["state"].text, "running");
    for (const auto& [name, value] : m.values) {
        ASSERT_TRUE(j->has(name)) << name;
        EXPECT_EQ((*j)[name].text, std::to_string(value)) << name;
    }
    EXPECT_EQ((*j)["hit_ratio"].text, "75.0");
    const Json& devices = (*j)["devices"];
    ASSERT_EQ(devices.kind, Json::Kind::array);
    ASSERT_EQ(devices.array.size(), 2u);
    EXPECT_EQ(devices.array[0]["path"].text, "/dev/sdb1");
    EXPECT_EQ(devices.array[0]["unused_percent"].text, "25");
    EXPECT_EQ(devices.array[1]["state"].text, "missing");
    EXPECT_EQ(devices.array[1]["path"].kind, Json::Kind::null);
}

TEST(StatsView, JsonBeforeAnyReadAndWithoutDevices) {
    MountStats m;
    m.path = "/m";
    m.mode = "writethrough";
    m.values = {{"cache_hits", 0}, {"cache_misses", 0}};
    m.devices_unavailable = "unavailable: why";
    JsonParser parser;
    auto j = parser.parse(format_mount_json(m));
    ASSERT_TRUE(j) << parser.error();
    EXPECT_EQ((*j)["hit_ratio"].kind, Json::Kind::null);
    EXPECT_EQ((*j)["state"].kind, Json::Kind::null);
    EXPECT_EQ((*j)["devices"].kind, Json::Kind::null);
    EXPECT_EQ((*j)["devices_unavailable"].text, "unavailable: why");
}

TEST(StatsView, JsonStringsEscapeAndStayValidUtf8) {
    EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(json_string("\n\t\r\b\f"), "\"\\n\\t\\r\\b\\f\"");
    EXPECT_EQ(json_string(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
    EXPECT_EQ(json_string(std::string("\0", 1)), "\"\\u0000\"");
    EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
              "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    EXPECT_EQ(json_string("a\xff"
                          "b"),
              "\"a\\ufffdb\"");
    EXPECT_EQ(json_string("\xc3"), "\"\\ufffd\"") << "truncated";
    EXPECT_EQ(json_string("\xc0\xaf"), "\"\\ufffd\\ufffd\"") << "overlong";
    EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"") << "a surrogate";
    JsonParser parser;
    auto j = parser.parse(json_string("x\xfe\n\"y"));
    ASSERT_TRUE(j) << parser.error();
    EXPECT_EQ(j->text, "x\xef\xbf\xbd\n\"y");
    EXPECT_EQ(json_number(75.04, 1), "75.0");
    EXPECT_EQ(json_number(1.0 / 0.0, 1), "null");
}

TEST(StatsView, FileTextAndJson) {
    FileStats f;
    f.path = "/mnt/fast/a.bin";
    f.mount_root = "/mnt/fast";
    f.size = 8 << 20;
    f.cached_bytes = 4 << 20;
    f.dirty_bytes = 1 << 20;
    f.pinned_bytes = 0;
    const std::string text = format_file_text(f);
    EXPECT_EQ(text.rfind("/mnt/fast/a.bin: in the bcachefs-lite mount at /mnt/fast\n", 0), 0u) << text;
    EXPECT_EQ(text_value(text, "size"), "8.0MiB (8388608 bytes)");
    EXPECT_EQ(text_value(text, "cached"), "4.0MiB (50.0% of the file)");
    EXPECT_EQ(text_value(text, "dirty"), "1.0MiB (12.5% of the file)");
    EXPECT_EQ(text_value(text, "pinned"), "no");
    f.pin = true;
    f.pinned_bytes = 4 << 20;
    EXPECT_EQ(text_value(format_file_text(f), "pinned"), "yes, 4.0MiB (50.0% of the file) held as pinned data");
    JsonParser parser;
    auto j = parser.parse(format_file_json(f));
    ASSERT_TRUE(j) << parser.error();
    EXPECT_EQ((*j)["size"].text, "8388608");
    EXPECT_EQ((*j)["cached_bytes"].text, "4194304");
    EXPECT_EQ((*j)["dirty_bytes"].text, "1048576");
    EXPECT_EQ((*j)["pinned"].text, "4194304");
    EXPECT_TRUE((*j)["pin"].boolean);
    EXPECT_EQ((*j)["mount"].text, "/mnt/fast");
    EXPECT_EQ((*j)["type"].text, "file");
}

TEST(StatsView, ParsesTheDevicesTable) {
    auto rows = parse_devices(
        "dev  state    io_errors  unused  clean  dirty  pinned  path\n"
        "0    working  0          12%     80%    8%     0%      /dev/sdb1\n"
        "1    failed   17         0%      100%   0%     0%      /var/cache/a cache file\n"
        "2    missing  0          0%      0%     0%     0%      -\n");
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows.value().size(), 3u);
    EXPECT_EQ(rows.value()[0].unused, 12u);
    EXPECT_EQ(rows.value()[0].clean, 80u);
    EXPECT_EQ(rows.value()[0].dirty, 8u);
    EXPECT_EQ(rows.value()[1].state, "failed");
    EXPECT_EQ(rows.value()[1].io_errors, 17u);
    EXPECT_EQ(rows.value()[1].path, "/var/cache/a cache file");
    EXPECT_EQ(rows.value()[2].path, "-");
    EXPECT_FALSE(parse_devices(""));
    EXPECT_FALSE(parse_devices("0 working 0 1% 1% 1% 1% /x\n")) << "no header";
    EXPECT_FALSE(parse_devices("dev state\n0 working 0 1% 1% 1% /x\n")) << "a column short";
    EXPECT_FALSE(parse_devices("dev state\n0 working 0 1 1% 1% 1% /x\n")) << "not a percentage";
}

TEST(StatsView, CounterDeltaStartsAgainAfterARestart) {
    EXPECT_EQ(counter_delta(10, 25), 15u);
    EXPECT_EQ(counter_delta(10, 10), 0u);
    EXPECT_EQ(counter_delta(100, 7), 7u) << "a new mount counts from 0";
}

TEST(StatsView, WatchRatesOverTheInterval) {
    const StatValues before{{"cache_hits", 100},       {"cache_misses", 50},      {"bytes_read_cache", 1 << 20},
                            {"bytes_read_backing", 0}, {"bytes_written_back", 0}, {"dirty_data", 5 << 20}};
    const StatValues after{{"cache_hits", 130},
                           {"cache_misses", 60},
                           {"bytes_read_cache", 5 << 20},
                           {"bytes_read_backing", 2 << 20},
                           {"bytes_written_back", 1 << 20},
                           {"dirty_data", 4 << 20}};
    const WatchRates r = watch_rates(before, after, 2.0);
    EXPECT_DOUBLE_EQ(r.hits, 15.0);
    EXPECT_DOUBLE_EQ(r.misses, 5.0);
    ASSERT_TRUE(r.hit_percent);
    EXPECT_DOUBLE_EQ(*r.hit_percent, 75.0) << "of this interval's reads, not since the mount";
    EXPECT_DOUBLE_EQ(r.read_cache, 2.0 * (1 << 20));
    EXPECT_DOUBLE_EQ(r.read_backing, 1.0 * (1 << 20));
    EXPECT_DOUBLE_EQ(r.written_back, 0.5 * (1 << 20));
    EXPECT_EQ(r.dirty, 4u << 20);

    const WatchRates idle = watch_rates(after, after, 0.5);
    EXPECT_DOUBLE_EQ(idle.hits, 0.0);
    EXPECT_FALSE(idle.hit_percent) << "no reads in the interval";
}

TEST(StatsView, WatchHeaderAndLineHaveTheSameColumns) {
    WatchRates r;
    r.seconds = 1;
    r.hits = 15;
    r.misses = 5;
    r.hit_percent = 75.0;
    r.read_cache = 2 << 20;
    r.read_backing = 1 << 20;
    r.written_back = 512 << 10;
    r.dirty = 4 << 20;
    const std::string header = watch_header();
    const std::string line = watch_line("12:34:56", r);
    auto words = [](const std::string& s) {
        std::vector<std::string> out;
        std::istringstream in(s);
        for (std::string w; in >> w;) out.push_back(w);
        return out;
    };
    EXPECT_EQ(words(header), (std::vector<std::string>{"time", "hits/s", "misses/s", "hit%", "cache_MiB/s",
                                                       "backing_MiB/s", "wb_MiB/s", "dirty"}));
    EXPECT_EQ(words(line),
              (std::vector<std::string>{"12:34:56", "15.0", "5.0", "75.0", "2.00", "1.00", "0.50", "4.0MiB"}));
    EXPECT_EQ(header.size(), line.size()) << "columns line up\n" << header << line;
    r.hit_percent.reset();
    EXPECT_EQ(words(watch_line("12:34:57", r))[3], "-");

    JsonParser parser;
    auto j = parser.parse(watch_json("12:34:56", r));
    ASSERT_TRUE(j) << parser.error();
    EXPECT_EQ((*j)["hits_per_sec"].text, "15.0");
    EXPECT_EQ((*j)["hit_ratio"].kind, Json::Kind::null);
    EXPECT_EQ((*j)["read_cache_bytes_per_sec"].text, "2097152");
    EXPECT_EQ((*j)["dirty_data"].text, "4194304");
}

}  // namespace
}  // namespace bcl::ctl
