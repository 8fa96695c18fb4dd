#include "stats_view.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <fmt/format.h>

#include "bcachefs_lite/util/size.h"
#include "json.h"

namespace bcl::ctl {

namespace {

constexpr std::array kHitsAndMisses{
    StatEntry{"cache_hits", "hits", StatUnit::count},
    StatEntry{"cache_misses", "misses", StatUnit::count},
    StatEntry{"cache_hit_ratio", "hit ratio", StatUnit::hit_ratio},
    StatEntry{"bytes_read_cache", "read from cache", StatUnit::bytes},
    StatEntry{"bytes_read_backing", "read from backing", StatUnit::bytes},
    StatEntry{"cache_miss_collisions", "miss collisions", StatUnit::count},
    StatEntry{"promotions", "promotions", StatUnit::count},
    StatEntry{"promotions_skipped", "promotions skipped", StatUnit::count},
};
constexpr std::array kBypass{
    StatEntry{"cache_bypass_hits", "bypass hits", StatUnit::count},
    StatEntry{"cache_bypass_misses", "bypass misses", StatUnit::count},
    StatEntry{"bypassed", "bypassed", StatUnit::bytes},
    StatEntry{"congested_skips", "congested skips", StatUnit::count},
};
constexpr std::array kWriteback{
    StatEntry{"dirty_data", "dirty", StatUnit::bytes},
    StatEntry{"writeback_rate", "writeback rate", StatUnit::bytes_per_sec},
    StatEntry{"bytes_written_dirty", "written dirty", StatUnit::bytes},
    StatEntry{"bytes_written_back", "written back", StatUnit::bytes},
    StatEntry{"writes_direct", "writes direct", StatUnit::count},
    StatEntry{"sectors_overwritten", "sectors overwritten", StatUnit::count},
};
constexpr std::array kBuckets{
    StatEntry{"buckets_total", "buckets", StatUnit::count},
    StatEntry{"buckets_free", "buckets free", StatUnit::count},
    StatEntry{"cache_available_percent", "available", StatUnit::percent},
    StatEntry{"pinned_bytes", "pinned", StatUnit::bytes},
    StatEntry{"gc_runs", "GC runs", StatUnit::count},
    StatEntry{"moving_gc_runs", "moving GC runs", StatUnit::count},
    StatEntry{"moved_bytes", "moved", StatUnit::bytes},
};
constexpr std::array kErrors{
    StatEntry{"cache_read_errors", "cache read errors", StatUnit::count},
    StatEntry{"cache_write_errors", "cache write errors", StatUnit::count},
    StatEntry{"io_errors", "device io errors", StatUnit::count},
    StatEntry{"insert_no_space", "inserts without space", StatUnit::count},
    StatEntry{"backing_offline", "backing offline", StatUnit::count},
    StatEntry{"offline_reads", "offline reads", StatUnit::count},
};
constexpr std::array kGroups{
    StatGroup{"hits and misses", kHitsAndMisses},
    StatGroup{"bypass", kBypass},
    StatGroup{"writes and writeback", kWriteback},
    StatGroup{"buckets and GC", kBuckets},
    StatGroup{"errors", kErrors},
};

// Label column of the text output.
constexpr std::size_t kLabelWidth = 24;

bool in_table(std::string_view name) {
    for (const StatGroup& g : kGroups)
        for (const StatEntry& e : g.entries)
            if (e.name == name) return true;
    return false;
}

std::string format_value(const StatEntry& entry, const StatValues& values) {
    if (entry.unit == StatUnit::hit_ratio) {
        const auto ratio =
            hit_percent(find_stat(values, "cache_hits").value_or(0), find_stat(values, "cache_misses").value_or(0));
        return ratio ? fmt::format("{:.1f}%", *ratio) : "- (no reads yet)";
    }
    const auto value = find_stat(values, entry.name);
    if (!value) return "-";
    switch (entry.unit) {
    case StatUnit::bytes: return human_bytes(*value);
    case StatUnit::bytes_per_sec: return human_rate(static_cast<double>(*value));
    case StatUnit::percent: return fmt::format("{}%", *value);
    case StatUnit::count:
    case StatUnit::hit_ratio: break;
    }
    return fmt::format("{}", *value);
}

std::vector<std::string_view> split_words(std::string_view line, std::size_t max_words, std::string_view* rest) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (words.size() < max_words) {
        while (i < line.size() && line[i] == ' ') ++i;
        if (i == line.size()) break;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ') ++i;
        words.push_back(line.substr(start, i - start));
    }
    while (i < line.size() && line[i] == ' ') ++i;
    *rest = line.substr(i);
    return words;
}

std::optional<std::uint64_t> parse_percent(std::string_view text) {
    if (!text.ends_with('%')) return std::nullopt;
    text.remove_suffix(1);
    return parse_stat_value(text);
}

double per_second(std::uint64_t delta, double seconds) { return static_cast<double>(delta) / seconds; }

}  // namespace

std::span<const StatGroup> stat_groups() { return kGroups; }

std::optional<std::uint64_t> parse_stat_value(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.remove_suffix(1);
    std::uint64_t value = 0;
    if (text.empty()) return std::nullopt;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

Result<StatValues> parse_stat_lines(std::string_view text) {
    StatValues out;
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line.empty()) continue;
        const std::size_t eq = line.find('=');
        const auto value = eq == std::string_view::npos ? std::nullopt : parse_stat_value(line.substr(eq + 1));
        if (eq == 0 || !value) return make_error(Errc::invalid, fmt::format("'{}' is not a name=value line", line));
        out.emplace_back(std::string(line.substr(0, eq)), *value);
    }
    return out;
}

std::optional<std::uint64_t> find_stat(const StatValues& values, std::string_view name) {
    for (const auto& [n, v] : values)
        if (n == name) return v;
    return std::nullopt;
}

std::optional<double> hit_percent(std::uint64_t hits, std::uint64_t misses) {
    const double total = static_cast<double>(hits) + static_cast<double>(misses);
    if (total == 0) return std::nullopt;
    return static_cast<double>(hits) * 100.0 / total;
}

Result<std::vector<DeviceRow>> parse_devices(std::string_view text) {
    std::vector<DeviceRow> rows;
    bool header = true;
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line.empty()) continue;
        std::string_view rest;
        const auto w = split_words(line, 7, &rest);
        if (header) {
            if (w.empty() || w[0] != "dev") return make_error(Errc::invalid, "the devices table has no header");
            header = false;
            continue;
        }
        DeviceRow row;
        const auto dev = w.size() == 7 ? parse_stat_value(w[0]) : std::nullopt;
        const auto errors = w.size() == 7 ? parse_stat_value(w[2]) : std::nullopt;
        const auto unused = w.size() == 7 ? parse_percent(w[3]) : std::nullopt;
        const auto clean = w.size() == 7 ? parse_percent(w[4]) : std::nullopt;
        const auto dirty = w.size() == 7 ? parse_percent(w[5]) : std::nullopt;
        const auto pinned = w.size() == 7 ? parse_percent(w[6]) : std::nullopt;
        if (!dev || !errors || !unused || !clean || !dirty || !pinned || rest.empty())
            return make_error(Errc::invalid, fmt::format("'{}' is not a line of the devices table", line));
        row.dev = static_cast<unsigned>(*dev);
        row.state = std::string(w[1]);
        row.io_errors = *errors;
        row.unused = *unused;
        row.clean = *clean;
        row.dirty = *dirty;
        row.pinned = *pinned;
        row.path = std::string(rest);
        rows.push_back(std::move(row));
    }
    if (header) return make_error(Errc::invalid, "the devices table is empty");
    return rows;
}

std::string human_bytes(std::uint64_t bytes) { return format_size_approx(bytes); }

std::string human_rate(double bytes_per_second) {
    const double clamped = std::max(bytes_per_second, 0.0);
    return fmt::format("{}/s", format_size_approx(static_cast<std::uint64_t>(clamped + 0.5)));
}

std::string format_mount_text(const MountStats& s) {
    std::string out = fmt::format("{}: bcachefs-lite mount, cache_mode {}", s.path, s.mode);
    if (!s.state.empty()) out += fmt::format(", state {}", s.state);
    out += '\n';
    auto line = [&](std::string_view label, const std::string& value) {
        out += fmt::format("  {:<{}}{:>12}\n", label, kLabelWidth, value);
    };
    for (const StatGroup& g : kGroups) {
        out += fmt::format("\n{}\n", g.title);
        for (const StatEntry& e : g.entries) line(e.label, format_value(e, s.values));
    }
    bool other = false;
    for (const auto& [name, value] : s.values) {
        if (in_table(name)) continue;
        if (!other) out += "\nother\n";
        other = true;
        line(name, fmt::format("{}", value));
    }
    out += "\ndevices\n";
    if (!s.devices_unavailable.empty()) {
        out += fmt::format("  {}\n", s.devices_unavailable);
        return out;
    }
    constexpr std::string_view kRow = "  {:<4} {:<8} {:>9} {:>7} {:>6} {:>6} {:>7}  {}\n";
    out += fmt::format(kRow, "dev", "state", "io_errors", "unused", "clean", "dirty", "pinned", "path");
    for (const DeviceRow& d : s.devices) {
        out += fmt::format(kRow, d.dev, d.state, d.io_errors, fmt::format("{}%", d.unused), fmt::format("{}%", d.clean),
                           fmt::format("{}%", d.dirty), fmt::format("{}%", d.pinned), d.path);
    }
    return out;
}

std::string format_mount_json(const MountStats& s) {
    std::string out = fmt::format("{{\"path\":{},\"cache_mode\":{},\"state\":{}", json_string(s.path),
                                  json_string(s.mode), s.state.empty() ? "null" : json_string(s.state));
    for (const auto& [name, value] : s.values) out += fmt::format(",{}:{}", json_string(name), value);
    const auto ratio =
        hit_percent(find_stat(s.values, "cache_hits").value_or(0), find_stat(s.values, "cache_misses").value_or(0));
    out += fmt::format(",\"hit_ratio\":{}", ratio ? json_number(*ratio, 1) : "null");
    if (!s.devices_unavailable.empty()) {
        out += fmt::format(",\"devices\":null,\"devices_unavailable\":{}", json_string(s.devices_unavailable));
    } else {
        out += ",\"devices\":[";
        for (std::size_t i = 0; i < s.devices.size(); ++i) {
            const DeviceRow& d = s.devices[i];
            out += fmt::format(
                "{}{{\"dev\":{},\"state\":{},\"io_errors\":{},\"unused_percent\":{},\"clean_percent\":{},"
                "\"dirty_percent\":{},\"pinned_percent\":{},\"path\":{}}}",
                i == 0 ? "" : ",", d.dev, json_string(d.state), d.io_errors, d.unused, d.clean, d.dirty, d.pinned,
                d.path == "-" ? "null" : json_string(d.path));
        }
        out += "]";
    }
    return out + "}\n";
}

std::string format_file_text(const FileStats& s) {
    std::string out = s.mount_root.empty()
                          ? fmt::format("{}: in a bcachefs-lite mount\n", s.path)
                          : fmt::format("{}: in the bcachefs-lite mount at {}\n", s.path, s.mount_root);
    auto line = [&](std::string_view label, const std::string& value) {
        out += fmt::format("  {:<10}{}\n", label, value);
    };
    auto of_size = [&](std::uint64_t bytes) {
        if (!s.regular || s.size == 0) return human_bytes(bytes);
        return fmt::format("{} ({:.1f}% of the file)", human_bytes(bytes),
                           static_cast<double>(bytes) * 100.0 / static_cast<double>(s.size));
    };
    if (s.regular) line("size", fmt::format("{} ({} bytes)", human_bytes(s.size), s.size));
    line("cached", of_size(s.cached_bytes));
    line("dirty", of_size(s.dirty_bytes));
    if (s.pin)
        line("pinned", fmt::format("yes, {} held as pinned data", of_size(s.pinned_bytes)));
    else
        line("pinned", s.pinned_bytes == 0 ? std::string("no") : fmt::format("no, {}", of_size(s.pinned_bytes)));
    return out;
}

std::string format_file_json(const FileStats& s) {
    return fmt::format(
        "{{\"path\":{},\"mount\":{},\"type\":\"{}\",\"size\":{},\"cached_bytes\":{},\"dirty_bytes\":{},"
        "\"pinned\":{},\"pin\":{}}}\n",
        json_string(s.path), s.mount_root.empty() ? "null" : json_string(s.mount_root),
        s.regular ? "file" : "directory", s.size, s.cached_bytes, s.dirty_bytes, s.pinned_bytes,
        s.pin ? "true" : "false");
}

std::uint64_t counter_delta(std::uint64_t before, std::uint64_t after) {
    return after >= before ? after - before : after;
}

WatchRates watch_rates(const StatValues& before, const StatValues& after, double seconds) {
    auto delta = [&](std::string_view name) {
        return counter_delta(find_stat(before, name).value_or(0), find_stat(after, name).value_or(0));
    };
    WatchRates r;
    r.seconds = seconds;
    const std::uint64_t hits = delta("cache_hits");
    const std::uint64_t misses = delta("cache_misses");
    r.hits = per_second(hits, seconds);
    r.misses = per_second(misses, seconds);
    r.hit_percent = hit_percent(hits, misses);
    r.read_cache = per_second(delta("bytes_read_cache"), seconds);
    r.read_backing = per_second(delta("bytes_read_backing"), seconds);
    r.written_back = per_second(delta("bytes_written_back"), seconds);
    r.dirty = find_stat(after, "dirty_data").value_or(0);
    return r;
}

namespace {
constexpr std::string_view kWatchRow = "{:<8}  {:>9}  {:>9}  {:>6}  {:>11}  {:>13}  {:>8}  {:>10}\n";
constexpr double kMiB = 1024.0 * 1024.0;
}  // namespace

std::string watch_header() {
    return fmt::format(kWatchRow, "time", "hits/s", "misses/s", "hit%", "cache_MiB/s", "backing_MiB/s", "wb_MiB/s",
                       "dirty");
}

std::string watch_line(std::string_view time, const WatchRates& r) {
    return fmt::format(kWatchRow, time, fmt::format("{:.1f}", r.hits), fmt::format("{:.1f}", r.misses),
                       r.hit_percent ? fmt::format("{:.1f}", *r.hit_percent) : "-",
                       fmt::format("{:.2f}", r.read_cache / kMiB), fmt::format("{:.2f}", r.read_backing / kMiB),
                       fmt::format("{:.2f}", r.written_back / kMiB), human_bytes(r.dirty));
}

std::string watch_json(std::string_view time, const WatchRates& r) {
    return fmt::format(
        "{{\"time\":{},\"seconds\":{},\"hits_per_sec\":{},\"misses_per_sec\":{},\"hit_ratio\":{},"
        "\"read_cache_bytes_per_sec\":{},\"read_backing_bytes_per_sec\":{},\"written_back_bytes_per_sec\":{},"
        "\"dirty_data\":{}}}\n",
        json_string(time), json_number(r.seconds, 3), json_number(r.hits, 1), json_number(r.misses, 1),
        r.hit_percent ? json_number(*r.hit_percent, 1) : "null", json_number(r.read_cache, 0),
        json_number(r.read_backing, 0), json_number(r.written_back, 0), r.dirty);
}

}  // namespace bcl::ctl
