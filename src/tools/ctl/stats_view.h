// How `bcachefs-lite-ctl stats` shows what a mount's user.bcachefs_lite.*
// attributes say: the statistics of the `stats` attribute in groups with
// human units, the per-device table of `devices`, a file's cached, dirty
// and pinned bytes, one JSON object of the same figures, and for --watch
// the rates between two readings. Pure functions of the values read: the
// command (stats_command.cc) reads the attributes, this file only formats.
//
// The groups are one table (stat_groups()): the text output, the JSON
// output and the man page follow it. A statistic a daemon offers that the
// table does not name (a newer daemon) is shown under "other" and kept in
// the JSON.
//
// Thread safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bcachefs_lite/util/error.h"

namespace bcl::ctl {

enum class StatUnit : std::uint8_t {
    count,          // a plain number
    bytes,          // shown as B, KiB, MiB, GiB...
    bytes_per_sec,  // the same, per second
    percent,        // a whole percentage the daemon computed
    hit_ratio,      // computed here from cache_hits and cache_misses of the same reading
};

struct StatEntry {
    std::string_view name;   // the attribute, without the prefix
    std::string_view label;  // what the text output calls it
    StatUnit unit;
};

struct StatGroup {
    std::string_view title;
    std::span<const StatEntry> entries;
};

// The groups, in the order they are shown: hits and misses, bypass, writes
// and writeback, buckets and GC, errors. Every name of the daemon's `stats`
// attribute is in exactly one of them.
std::span<const StatGroup> stat_groups();

// The `stats` attribute, name and value, in the daemon's order.
using StatValues = std::vector<std::pair<std::string, std::uint64_t>>;

// A decimal attribute value ("123", a trailing newline or NUL allowed);
// nullopt when it is not one.
std::optional<std::uint64_t> parse_stat_value(std::string_view text);

// Parses "name=value\n" lines (the `stats` attribute); Errc::invalid
// naming the first line that is not one.
Result<StatValues> parse_stat_lines(std::string_view text);
std::optional<std::uint64_t> find_stat(const StatValues& values, std::string_view name);

// Hits as a percentage of all read requests (hits and misses), or nullopt
// before any read.
std::optional<double> hit_percent(std::uint64_t hits, std::uint64_t misses);

// One line of the `devices` attribute.
struct DeviceRow {
    unsigned dev = 0;
    std::string state;
    std::uint64_t io_errors = 0;
    // Percentages of the device's data buckets.
    std::uint64_t unused = 0;
    std::uint64_t clean = 0;
    std::uint64_t dirty = 0;
    std::uint64_t pinned = 0;
    std::string path;  // "-" for a missing device
};

// Parses the `devices` attribute (a header line, then a line a device,
// the path last since it may hold spaces); Errc::invalid when it is not
// that table.
Result<std::vector<DeviceRow>> parse_devices(std::string_view text);

// What a mount root shows.
struct MountStats {
    std::string path;
    std::string mode;   // cache_mode
    std::string state;  // running, failing, passthrough; empty when not read
    StatValues values;
    std::vector<DeviceRow> devices;
    // Why there are no device rows (e.g. a GC pass was counting the
    // buckets); empty when devices is the table.
    std::string devices_unavailable;
};

// The groups, with human units, newline-terminated.
std::string format_mount_text(const MountStats& stats);
// One line of JSON: path, cache_mode, state, every statistic by its
// attribute name (numbers, bytes in bytes), hit_ratio with one decimal
// (null before any read), and devices, an array of objects (or null, with
// devices_unavailable saying why).
std::string format_mount_json(const MountStats& stats);

// What a file (or directory) inside a mount shows.
struct FileStats {
    std::string path;
    std::string mount_root;  // empty when not found
    std::uint64_t size = 0;
    bool regular = true;
    std::uint64_t cached_bytes = 0;
    std::uint64_t dirty_bytes = 0;
    std::uint64_t pinned_bytes = 0;  // the `pinned` attribute
    bool pin = false;                // the `pin` attribute
};

std::string format_file_text(const FileStats& stats);
std::string format_file_json(const FileStats& stats);

// --watch: the rates between two readings of the same mount.
struct WatchRates {
    double seconds = 0;  // between the readings
    double hits = 0;     // per second
    double misses = 0;
    std::optional<double> hit_percent;  // of the interval's reads; nullopt when none
    double read_cache = 0;              // bytes per second
    double read_backing = 0;
    double written_back = 0;
    std::uint64_t dirty = 0;  // dirty_data at the second reading
};

// The increase of a counter between two readings. A counter that went
// down belongs to a new mount (the daemon restarted): all of it is new.
std::uint64_t counter_delta(std::uint64_t before, std::uint64_t after);

// Rates over `seconds` (> 0) from `before` to `after`.
WatchRates watch_rates(const StatValues& before, const StatValues& after, double seconds);

// The column header of the --watch lines, and one line of them; `time` is
// the wall-clock time of the reading ("12:34:56"). Both newline-terminated.
std::string watch_header();
std::string watch_line(std::string_view time, const WatchRates& rates);
// One line of JSON for --watch --json.
std::string watch_json(std::string_view time, const WatchRates& rates);

// "1.5MiB" for bytes, "1.5MiB/s" for bytes per second.
std::string human_bytes(std::uint64_t bytes);
std::string human_rate(double bytes_per_second);

}  // namespace bcl::ctl
