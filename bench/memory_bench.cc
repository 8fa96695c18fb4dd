// The memory benchmark of the cache engine (the target: RSS with a
// 64 GiB cache of 512 KiB buckets holding 1M extents at most 256 MiB).
//
// memory/extents:N (one iteration, seconds)
//   A real CacheSet over a sparse 64 GiB cache file formatted with 512 KiB
//   buckets, its index and a backing directory, all in a fresh directory
//   under $BCL_MEMORY_DIR, else $TMPDIR, else /var/tmp (not /tmp: it may be
//   a tmpfs, which holds the data in RAM and may refuse O_DIRECT), removed
//   at the end, also on failure. The backing files are sparse, 8 MiB each;
//   the fill reads every other 4 KiB block of each in a shuffled order
//   through CacheSet::read, so every read misses and its insert becomes its
//   own extent (blocks never touch, and the index does not merge extents).
//   A block whose insert was skipped (no free bucket ready: a read never
//   waits for one) is read again until it is cached, so the cache ends up
//   holding exactly N extents, counted through the index; the run fails,
//   naming the engine's counts of skipped inserts, only when 30 rounds in
//   a row cache none of a file's missing blocks.
//   Then the set is closed and opened again over the same cache and index
//   (the startup GC pass walks every extent), and a random sample of the
//   cached blocks is read back: all hits.
//
// Counters (MiB are 2^20 bytes, from /proc/self/status):
//   extents          extents in the index after the fill
//   rss_fill_mib     VmRSS after the fill
//   peak_fill_mib    VmHWM after the fill (the peak of the whole fill)
//   rss_reopen_mib   VmRSS after close and reopen (GC pass done)
//   peak_reopen_mib  VmHWM over close, reopen and its GC pass (the peak is
//                    reset through /proc/self/clear_refs before the close)
//   rss_reads_mib    VmRSS after the sample was read back
//   anon_reads_mib   of it, RssAnon (heap, stacks: the engine's own memory)
//   file_reads_mib   of it, RssFile (mapped code of the program and its
//                    libraries, RocksDB's above all)
//   peak_mib         the largest VmHWM seen
//   hits             hits counted by the engine during the read-back
//   target_ratio     peak_mib over target_mib (256): at most 1 meets it
//   target_mib, cache_gib, bucket_kib   the target and the geometry, for
//                    bench/run's report
//
// Environment:
//   BCL_MEMORY_EXTENTS  extents to fill (default 1000000; e.g. 20000 for a
//                       quick run)
//   BCL_MEMORY_READS    blocks read back after the reopen (default: a
//                       tenth of the extents, at most 100000)
//   BCL_MEMORY_THREADS  threads that fill (default 8: a miss waits for its
//                       write to the cache device, so the fill is bound by
//                       I/O latency, not by the CPUs)
//   BCL_MEMORY_DIR      where the temporary directory goes
//
// The run needs free space of about 4 KiB per extent (the cached data) plus
// the index; it checks before it starts and stops with a message if there
// is not enough. SIGINT, SIGTERM and SIGHUP stop the run between two reads,
// and the directory is removed all the same. The process exits non-zero
// when the run failed or was stopped.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/device/format.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"
#include "bench_support.h"

namespace bcl {
namespace {

constexpr std::uint64_t kCacheBytes = 64ull << 30;
constexpr std::uint32_t kBucketBytes = 512u << 10;
constexpr std::uint32_t kBlockBytes = 4096;
// Each backing file holds this many extents, one every other block.
constexpr std::uint64_t kExtentsPerFile = 1024;
constexpr std::uint64_t kFileBytes = 2 * kExtentsPerFile * kBlockBytes;
constexpr double kTargetMiB = 256;
// Rounds in a row of re-reading blocks whose insert was skipped, none of
// them getting cached, before giving up (about 40 s of waits). A read
// never waits for a bucket, and while a GC pass runs the allocator cannot
// invalidate any: on a loaded machine a fill may wait that long, and a
// fixed number of rounds gave up on fills that were still moving.
constexpr int kStallRounds = 30;
constexpr std::chrono::milliseconds kMaxRoundWait{2000};

struct Config {
    std::uint64_t extents = 1000000;
    std::uint64_t reads = 0;
    unsigned threads = 8;
    std::string base_dir;
};

Result<Config> config_from_env() {
    Config c;
    auto extents = env_number("BCL_MEMORY_EXTENTS", c.extents);
    if (!extents) return extents.error();
    c.extents = extents.value();
    auto reads =
        env_number("BCL_MEMORY_READS", std::min<std::uint64_t>(std::max<std::uint64_t>(c.extents / 10, 1), 100000));
    if (!reads) return reads.error();
    c.reads = reads.value();
    auto threads = env_number("BCL_MEMORY_THREADS", c.threads);
    if (!threads) return threads.error();
    c.threads = static_cast<unsigned>(std::min<std::uint64_t>(threads.value(), 64));
    for (const char* name : {"BCL_MEMORY_DIR", "TMPDIR"}) {
        const char* v = std::getenv(name);
        if (v != nullptr && *v != '\0') {
            c.base_dir = v;
            break;
        }
    }
    if (c.base_dir.empty()) c.base_dir = "/var/tmp";
    return c;
}

// What the run needs on disk: the cached data, about as much again for the
// index's WAL and tables at worst, and a margin.
std::uint64_t space_needed(const Config& c) { return c.extents * kBlockBytes * 3 / 2 + (1ull << 30); }

Status check_space(const Config& c) {
    struct statvfs vfs {};
    if (::statvfs(c.base_dir.c_str(), &vfs) != 0) return sys_error(errno, "statvfs " + c.base_dir);
    const std::uint64_t avail = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    const std::uint64_t need = space_needed(c);
    if (avail < need)
        return make_error(Errc::no_space,
                          fmt::format("{} has {} MiB free, the run needs about {} MiB ({} extents of 4 KiB plus "
                                      "the index); free space, set BCL_MEMORY_DIR, or lower BCL_MEMORY_EXTENTS",
                                      c.base_dir, avail >> 20, need >> 20, c.extents));
    return ok();
}

std::string backing_name(const std::string& dir, std::uint64_t file) { return fmt::format("{}/f{:06}", dir, file); }

// Sparse backing files: reading a hole costs no I/O, so the fill measures
// the engine, and the disk only holds what the cache writes.
Status make_backing_files(const std::string& dir, std::uint64_t files) {
    if (::mkdir(dir.c_str(), 0755) != 0) return sys_error(errno, "mkdir " + dir);
    for (std::uint64_t f = 0; f < files; ++f) {
        const std::string path = backing_name(dir, f);
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) return sys_error(errno, "create " + path);
        const int rc = ::ftruncate(fd, static_cast<off_t>(kFileBytes));
        const int err = errno;
        ::close(fd);
        if (rc != 0) return sys_error(err, "truncate " + path);
    }
    return ok();
}

// Extents of file `f` when n are spread over files of kExtentsPerFile.
std::uint64_t extents_of_file(std::uint64_t n, std::uint64_t f) {
    return std::min(kExtentsPerFile, n - f * kExtentsPerFile);
}

// The engine's counts of the reasons a miss is not cached, for the message
// of a fill that gives up.
std::string skip_reasons(CacheSet& set) {
    const CacheStats st = set.stats();
    return fmt::format(
        "insert_no_space {}, cache_write_errors {}, io_errors {}, cache_miss_collisions {}, "
        "congested_skips {}, promotions_skipped {}, bypassed {}, gc_runs {}, buckets_free {}",
        st.insert_no_space, st.cache_write_errors, st.io_errors, st.cache_miss_collisions, st.congested_skips,
        st.promotions_skipped, st.bypassed, st.gc_runs, st.buckets_free);
}

// Caches every other block of file f (the first extents_of_file() of them)
// in a shuffled order, then re-reads the ones whose insert was skipped.
Status fill_file(CacheSet& set, const std::string& dir, std::uint64_t f, std::uint64_t n, std::mt19937_64& rng,
                 const StopSignals& stop) {
    auto file = OpenFile::open(set, backing_name(dir, f));
    if (!file) return file.error();
    std::vector<std::uint64_t> blocks(extents_of_file(n, f));
    for (std::uint64_t i = 0; i < blocks.size(); ++i) blocks[i] = 2 * i;
    std::shuffle(blocks.begin(), blocks.end(), rng);
    std::vector<std::byte> buf(kBlockBytes);
    for (int stalled = 0; !blocks.empty();) {
        if (stalled == kStallRounds)
            return make_error(Errc::no_space,
                              fmt::format("{} blocks of file {} stayed uncached through {} rounds in a row ({})",
                                          blocks.size(), f, kStallRounds, skip_reasons(set)));
        // Give the allocator task time to refill the freelists.
        if (stalled > 0) std::this_thread::sleep_for(std::min(kMaxRoundWait, std::chrono::milliseconds(100 * stalled)));
        const std::size_t before = blocks.size();
        for (std::uint64_t b : blocks) {
            BCL_TRY(stop.check());
            BCL_TRY(file.value()->read_block(b, buf));
        }
        auto missing = file.value()->uncached(2 * extents_of_file(n, f), kBlockBytes);
        if (!missing) return missing.error();
        blocks = std::move(missing).value();
        stalled = blocks.size() < before ? 0 : stalled + 1;
    }
    return ok();
}

// Fills the cache with n extents from `threads` threads, each taking the
// next file to do.
Status fill(CacheSet& set, const std::string& dir, std::uint64_t n, unsigned threads, const StopSignals& stop) {
    const std::uint64_t files = (n + kExtentsPerFile - 1) / kExtentsPerFile;
    std::atomic<std::uint64_t> next{0};
    std::mutex error_mutex;
    std::optional<Error> first_error;
    auto work = [&](unsigned id) {
        std::mt19937_64 rng(12345 + id);
        for (std::uint64_t f; (f = next.fetch_add(1)) < files;) {
            if (auto st = fill_file(set, dir, f, n, rng, stop); !st) {
                std::lock_guard lk(error_mutex);
                if (!first_error) first_error = st.error();
                next.store(files);
                return;
            }
        }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t);
    for (auto& t : pool) t.join();
    if (first_error) return *first_error;
    return ok();
}

Result<std::uint64_t> count_extents(CacheSet& set) {
    std::uint64_t n = 0;
    BCL_TRY(set.index().for_each_extent([&](const Extent&) {
        ++n;
        return true;
    }));
    return n;
}

// Reads `reads` random cached blocks; the hits the engine counted.
Result<std::uint64_t> read_back(CacheSet& set, const std::string& dir, std::uint64_t n, std::uint64_t reads,
                                const StopSignals& stop) {
    const std::uint64_t files = (n + kExtentsPerFile - 1) / kExtentsPerFile;
    std::mt19937_64 rng(777);
    std::vector<std::uint64_t> picks(reads);
    for (auto& p : picks) p = rng() % n;    // extent number: file * kExtentsPerFile + index in file
    std::sort(picks.begin(), picks.end());  // one open per file
    const std::uint64_t hits_before = set.stats().cache_hits;
    std::vector<std::byte> buf(kBlockBytes);
    std::unique_ptr<OpenFile> file;
    std::uint64_t open_index = files;
    for (std::uint64_t p : picks) {
        BCL_TRY(stop.check());
        const std::uint64_t f = p / kExtentsPerFile;
        if (f != open_index) {
            file.reset();
            auto opened = OpenFile::open(set, backing_name(dir, f));
            if (!opened) return opened.error();
            file = std::move(opened).value();
            open_index = f;
        }
        BCL_TRY(file->read_block(2 * (p % kExtentsPerFile), buf));
    }
    file.reset();
    return set.stats().cache_hits - hits_before;
}

CacheSetOptions set_options(const WorkDir& work) {
    CacheSetOptions o;
    o.cache_paths = {work.file("cache.img")};
    o.index_dir = work.file("index");
    o.tunables.mode = CacheMode::writethrough;
    // The fill caches on purpose: a busy machine's slow device must not
    // make the engine skip inserts as congested (which left blocks
    // uncached after every round), nor a run count as sequential.
    o.tunables.bypass =
        BypassTunables{.sequential_cutoff = 0, .congested_read_threshold_us = 0, .congested_write_threshold_us = 0};
    return o;
}

struct Figures {
    std::uint64_t extents = 0;
    std::uint64_t hits = 0;
    Rss fill, reopen, reads;
    double peak_mib = 0;
};

Status run(const Config& c, const StopSignals& stop, Figures& out) {
    BCL_TRY(check_space(c));
    auto work = WorkDir::make(c.base_dir, "bcl-memory-bench");
    if (!work) return work.error();
    const WorkDir& w = *work.value();

    FormatOptions fo;
    fo.bucket_size = kBucketBytes;
    fo.block_size = kBlockBytes;
    fo.size = kCacheBytes;  // created sparse
    if (auto sb = format_device(w.file("cache.img"), fo); !sb) return sb.error();
    const std::string backing = w.file("backing");
    BCL_TRY(make_backing_files(backing, (c.extents + kExtentsPerFile - 1) / kExtentsPerFile));

    Logger log(LogLevel::warn);
    auto opened = CacheSet::open(set_options(w), log);
    if (!opened) return opened.error();
    std::unique_ptr<CacheSet> set = std::move(opened).value();

    BCL_TRY(fill(*set, backing, c.extents, c.threads, stop));
    auto rss = read_rss();
    if (!rss) return rss.error();
    out.fill = rss.value();
    auto counted = count_extents(*set);
    if (!counted) return counted.error();
    out.extents = counted.value();
    if (out.extents != c.extents)
        return make_error(Errc::invalid, fmt::format("the index holds {} extents, not {}", out.extents, c.extents));

    BCL_TRY(stop.check());
    BCL_TRY(reset_peak());
    BCL_TRY(set->close());
    set.reset();
    opened = CacheSet::open(set_options(w), log);
    if (!opened) return opened.error();
    set = std::move(opened).value();
    rss = read_rss();
    if (!rss) return rss.error();
    out.reopen = rss.value();

    BCL_TRY(stop.check());
    auto hits = read_back(*set, backing, c.extents, c.reads, stop);
    if (!hits) return hits.error();
    out.hits = hits.value();
    if (out.hits != c.reads)
        return make_error(Errc::invalid,
                          fmt::format("only {} of the {} reads after the reopen hit", out.hits, c.reads));
    rss = read_rss();
    if (!rss) return rss.error();
    out.reads = rss.value();
    out.peak_mib = std::max({out.fill.peak_mib, out.reopen.peak_mib, out.reads.peak_mib});
    BCL_TRY(set->close());
    return ok();
}

void memory(benchmark::State& state, const Config& c, const StopSignals& stop, bool& failed) {
    Figures fig;
    for (auto _ : state) {
        if (auto st = run(c, stop, fig); !st) {
            failed = true;
            std::fprintf(stderr, "bench_memory: %s\n", st.error().message.c_str());
            state.SkipWithError(st.error().message.c_str());
            return;
        }
    }
    state.counters["extents"] = static_cast<double>(fig.extents);
    state.counters["rss_fill_mib"] = fig.fill.rss_mib;
    state.counters["peak_fill_mib"] = fig.fill.peak_mib;
    state.counters["rss_reopen_mib"] = fig.reopen.rss_mib;
    state.counters["peak_reopen_mib"] = fig.reopen.peak_mib;
    state.counters["rss_reads_mib"] = fig.reads.rss_mib;
    state.counters["anon_reads_mib"] = fig.reads.anon_mib;
    state.counters["file_reads_mib"] = fig.reads.file_mib;
    state.counters["peak_mib"] = fig.peak_mib;
    state.counters["reads"] = static_cast<double>(c.reads);
    state.counters["hits"] = static_cast<double>(fig.hits);
    state.counters["target_ratio"] = fig.peak_mib / kTargetMiB;
    state.counters["target_mib"] = kTargetMiB;
    state.counters["cache_gib"] = static_cast<double>(kCacheBytes >> 30);
    state.counters["bucket_kib"] = static_cast<double>(kBucketBytes >> 10);
}

}  // namespace
}  // namespace bcl

int main(int argc, char** argv) {
    auto config = bcl::config_from_env();
    const std::string name = config ? fmt::format("memory/extents:{}", config.value().extents) : "";
    return bcl::benchmark_main<bcl::Config>(argc, argv, "bench_memory", std::move(config), name, bcl::memory);
}
