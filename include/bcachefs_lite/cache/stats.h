// Statistics of a cache set, named as bcache names them in sysfs. The
// counters are updated lock-free by the read path, the miss insert and GC;
// CacheStats is a snapshot of them plus the bucket figures.
//
// Hits and misses are counted per read request, as bcache counts them per
// bio: a request whose bytes all came from the cache device is a hit; a
// request that read any byte from the backing file is a miss. A read that
// returns no bytes (at or past end of file) counts as neither. Byte
// counters are exact.
//
// Thread safety: CacheCounters may be bumped from any thread; CacheStats
// and the formatting functions are plain values and pure functions.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcl {

struct CacheStats {
    std::uint64_t cache_hits = 0;
    std::uint64_t cache_misses = 0;
    // Reads that continued a sequential run past sequential_cutoff
    // (sequential.h): served from the cache where it held the data, but
    // never inserted; counted here instead of cache_hits and cache_misses.
    // bypassed counts the bytes of such reads and writes (a bypassed write
    // goes to the backing file whatever the mode).
    std::uint64_t cache_bypass_hits = 0;
    std::uint64_t cache_bypass_misses = 0;
    std::uint64_t bypassed = 0;  // bytes
    // Miss inserts skipped because a write raced with them (invariant 4).
    std::uint64_t cache_miss_collisions = 0;
    std::uint64_t bytes_read_cache = 0;
    std::uint64_t bytes_read_backing = 0;
    // Data buckets of all cache devices, and how many of them hold nothing
    // live as the allocator knows it at the time of the snapshot: marked
    // unused and unpinned, or on free_inc and free[] (CacheSet::stats();
    // during a GC pass, as the last pass left them).
    std::uint64_t buckets_total = 0;
    std::uint64_t buckets_free = 0;
    std::uint64_t gc_runs = 0;
    // Beyond bcache's names: failures the cache hides from readers.
    std::uint64_t cache_read_errors = 0;    // cache device reads that failed (served from backing)
    std::uint64_t cache_write_errors = 0;   // miss inserts whose device write failed
    std::uint64_t insert_no_space = 0;      // miss inserts skipped: no free bucket ready
    std::uint64_t sectors_overwritten = 0;  // cached sectors invalidated by writes since mount
    // The cache devices' error counts (device/io_error_counter.h): decayed,
    // in whole errors, summed over the devices (CacheSet::stats()).
    std::uint64_t io_errors = 0;
    // The backing directory not answering (cache/backing_link.h): read
    // requests served from the cache alone meanwhile (counted as hits too),
    // and 1 while it does not answer, else 0 (CacheSet::stats()).
    std::uint64_t offline_reads = 0;
    std::uint64_t backing_offline = 0;
    // Writeback.
    std::uint64_t dirty_data = 0;           // bytes of dirty data in the cache now
    std::uint64_t writeback_rate = 0;       // bytes/s writeback may write now
    std::uint64_t bytes_written_dirty = 0;  // bytes written to the cache as dirty data since mount
    std::uint64_t bytes_written_back = 0;   // dirty bytes written back to the backing files since mount
    // Writes in writeback mode sent to the backing file instead (dirty data
    // over a cutoff, no free bucket, or a file writeback could not find again).
    std::uint64_t writes_direct = 0;
    // Promotion (promotion.h): missed ranges the policy let into the cache
    // (every one under promote=always and below the trigger), and those it
    // kept out. A miss that is not offered to the cache at all (mode none,
    // a file being bypassed) counts in neither; an admitted one may still
    // be dropped (insert_no_space, cache_miss_collisions).
    std::uint64_t promotions = 0;
    std::uint64_t promotions_skipped = 0;
    // Inserts (of read misses and of writethrough writes) skipped because
    // the cache device was congested (sequential.h).
    std::uint64_t congested_skips = 0;
    // Bytes of pinned data in the cache (pin/pinning.cc): as the last GC pass
    // counted them, plus what was pinned and minus what was overwritten since.
    std::uint64_t pinned_bytes = 0;
    // Moving GC (gc/moving_gc.h): rounds run, and bytes of live data it copied
    // to new buckets (extents whose index entry it swapped) since mount.
    std::uint64_t moving_gc_runs = 0;
    std::uint64_t moved_bytes = 0;

    // Percent of read requests that hit, rounded down; 0 before any read.
    std::uint64_t cache_hit_ratio() const;
    // Percent of data buckets that are free, rounded down.
    std::uint64_t cache_available_percent() const;
};

// The atomic counters behind CacheStats (the bucket figures here are set
// by GC at the end of each pass).
struct CacheCounters {
    std::atomic<std::uint64_t> cache_hits{0};
    std::atomic<std::uint64_t> cache_misses{0};
    std::atomic<std::uint64_t> cache_bypass_hits{0};
    std::atomic<std::uint64_t> cache_bypass_misses{0};
    std::atomic<std::uint64_t> bypassed{0};
    std::atomic<std::uint64_t> cache_miss_collisions{0};
    std::atomic<std::uint64_t> bytes_read_cache{0};
    std::atomic<std::uint64_t> bytes_read_backing{0};
    std::atomic<std::uint64_t> buckets_total{0};
    std::atomic<std::uint64_t> buckets_free{0};
    std::atomic<std::uint64_t> gc_runs{0};
    std::atomic<std::uint64_t> cache_read_errors{0};
    std::atomic<std::uint64_t> cache_write_errors{0};
    std::atomic<std::uint64_t> insert_no_space{0};
    std::atomic<std::uint64_t> sectors_overwritten{0};
    std::atomic<std::uint64_t> offline_reads{0};
    std::atomic<std::uint64_t> bytes_written_dirty{0};
    std::atomic<std::uint64_t> bytes_written_back{0};
    std::atomic<std::uint64_t> writes_direct{0};
    std::atomic<std::uint64_t> promotions{0};
    std::atomic<std::uint64_t> promotions_skipped{0};
    std::atomic<std::uint64_t> congested_skips{0};
    std::atomic<std::uint64_t> pinned_bytes{0};
    std::atomic<std::uint64_t> moving_gc_runs{0};
    std::atomic<std::uint64_t> moved_bytes{0};

    CacheStats snapshot() const;
};

// Every statistic by name, in a fixed order: bcache's names first
// (cache_hits, cache_misses, cache_hit_ratio, cache_bypass_hits,
// cache_bypass_misses, bypassed, cache_miss_collisions, bytes_read_cache,
// bytes_read_backing, buckets_total, buckets_free, cache_available_percent,
// gc_runs), then the extra failure counters, io_errors, offline_reads and
// backing_offline, writeback's, promotion's
// (promotions, promotions_skipped), congested_skips, pinned_bytes and moving
// GC's (moving_gc_runs, moved_bytes).
std::vector<std::pair<std::string_view, std::uint64_t>> stat_values(const CacheStats& stats);
// The names stat_values() yields, in its order.
const std::vector<std::string_view>& stat_names();
// "name=value\n" for every statistic, in stat_values() order.
std::string format_stats(const CacheStats& stats);

}  // namespace bcl
