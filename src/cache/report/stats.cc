#include "bcachefs_lite/cache/stats.h"

#include <fmt/format.h>

#include "gc/bucket_count.h"
#include "report/report.h"

namespace bcl {

std::uint64_t CacheStats::cache_hit_ratio() const {
    const std::uint64_t total = cache_hits + cache_misses;
    return total == 0 ? 0 : cache_hits * 100 / total;
}

std::uint64_t CacheStats::cache_available_percent() const {
    return buckets_total == 0 ? 0 : buckets_free * 100 / buckets_total;
}

CacheStats CacheCounters::snapshot() const {
    auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    CacheStats s;
    s.cache_hits = get(cache_hits);
    s.cache_misses = get(cache_misses);
    s.cache_bypass_hits = get(cache_bypass_hits);
    s.cache_bypass_misses = get(cache_bypass_misses);
    s.bypassed = get(bypassed);
    s.cache_miss_collisions = get(cache_miss_collisions);
    s.bytes_read_cache = get(bytes_read_cache);
    s.bytes_read_backing = get(bytes_read_backing);
    s.buckets_total = get(buckets_total);
    s.buckets_free = get(buckets_free);
    s.gc_runs = get(gc_runs);
    s.cache_read_errors = get(cache_read_errors);
    s.cache_write_errors = get(cache_write_errors);
    s.insert_no_space = get(insert_no_space);
    s.sectors_overwritten = get(sectors_overwritten);
    s.offline_reads = get(offline_reads);
    s.bytes_written_dirty = get(bytes_written_dirty);
    s.bytes_written_back = get(bytes_written_back);
    s.writes_direct = get(writes_direct);
    s.promotions = get(promotions);
    s.promotions_skipped = get(promotions_skipped);
    s.congested_skips = get(congested_skips);
    s.pinned_bytes = get(pinned_bytes);
    s.moving_gc_runs = get(moving_gc_runs);
    s.moved_bytes = get(moved_bytes);
    return s;
}

CacheStats stats_of(const CacheCore& core) {
    CacheStats s = core.counters.snapshot();
    if (const auto count = count_buckets(*core.alloc)) {
        s.buckets_total = count->total;
        s.buckets_free = count->free;
    }
    s.dirty_data = core.dirty_bytes();
    for (const auto& d : core.devices) s.io_errors += d->io_errors().errors();
    s.backing_offline = core.backing_link.down() ? 1 : 0;
    return s;
}

std::vector<std::pair<std::string_view, std::uint64_t>> stat_values(const CacheStats& s) {
    return {
        {"cache_hits", s.cache_hits},
        {"cache_misses", s.cache_misses},
        {"cache_hit_ratio", s.cache_hit_ratio()},
        {"cache_bypass_hits", s.cache_bypass_hits},
        {"cache_bypass_misses", s.cache_bypass_misses},
        {"bypassed", s.bypassed},
        {"cache_miss_collisions", s.cache_miss_collisions},
        {"bytes_read_cache", s.bytes_read_cache},
        {"bytes_read_backing", s.bytes_read_backing},
        {"buckets_total", s.buckets_total},
        {"buckets_free", s.buckets_free},
        {"cache_available_percent", s.cache_available_percent()},
        {"gc_runs", s.gc_runs},
        {"cache_read_errors", s.cache_read_errors},
        {"cache_write_errors", s.cache_write_errors},
        {"insert_no_space", s.insert_no_space},
        {"sectors_overwritten", s.sectors_overwritten},
        {"io_errors", s.io_errors},
        {"offline_reads", s.offline_reads},
        {"backing_offline", s.backing_offline},
        {"dirty_data", s.dirty_data},
        {"writeback_rate", s.writeback_rate},
        {"bytes_written_dirty", s.bytes_written_dirty},
        {"bytes_written_back", s.bytes_written_back},
        {"writes_direct", s.writes_direct},
        {"promotions", s.promotions},
        {"promotions_skipped", s.promotions_skipped},
        {"congested_skips", s.congested_skips},
        {"pinned_bytes", s.pinned_bytes},
        {"moving_gc_runs", s.moving_gc_runs},
        {"moved_bytes", s.moved_bytes},
    };
}

const std::vector<std::string_view>& stat_names() {
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> v;
        for (const auto& [name, value] : stat_values(CacheStats{})) v.push_back(name);
        return v;
    }();
    return names;
}

std::string format_stats(const CacheStats& stats) {
    std::string out;
    for (const auto& [name, value] : stat_values(stats)) out += fmt::format("{}={}\n", name, value);
    return out;
}

}  // namespace bcl
