// The scale benchmark of the cache engine: a cache whose index holds 10
// million extents over 100,000 files, filled through the library (no FUSE,
// no data written), so that it runs in minutes.
//
// scale/extents:N (one iteration, seconds)
//   A sparse 64 GiB cache file of 512 KiB buckets, its index and a backing
//   directory, in a fresh directory under $BCL_SCALE_DIR, else $TMPDIR,
//   else /var/tmp, removed at the end, also on failure.
//   1. A CacheSet caches one real backing file (the probe) and closes.
//   2. The index is opened on its own and given N more extents over F
//      files (file ids the engine never hands out), 4 KiB each, one every
//      other block, in buckets the probe does not use, with the buckets'
//      gens, so that they are live cached data as far as GC is concerned.
//      Their blocks on the device are holes: they read as zeros, and their
//      checksum is that of zeros.
//   3. The CacheSet is opened (it walks the index the fill changed) and
//      closed cleanly (a last GC pass, whose marks it saves).
//   4. Measured: opening the CacheSet again until the first read of the
//      probe is served from the cache (the mount, as a user waits for it);
//      RSS after it; GC mark passes over every extent (run_gc), each
//      followed by the index walk alone, in BCL_SCALE_GC_ROUNDS rounds (the
//      median of each is reported), and RSS after them; the allocator's
//      memory per bucket; the latency of the
//      index lookup a hit makes (Index::lookup of one 4 KiB block), p50 and
//      p99 over random blocks, against the same lookups in an index that
//      holds only a probe and F extents, both opened read-only, in
//      alternating rounds.
//
// Counters:
//   extents              extents in the index (N + the probe's)
//   fill_s               seconds the fill took
//   mount_ms             open until the first read was served
//   open_ms              of it, CacheSet::open
//   from_snapshot        1 when that open used the GC snapshot of step 3
//   walk_mount_ms        the same for the open of step 3, which walks
//   close_ms             the clean close of step 3
//   rss_mount_mib        VmRSS after the mount
//   rss_gc_mib           VmRSS after the GC pass
//   peak_mib             VmHWM over mount and GC passes
//   gc_mark_s            seconds of a GC pass (the median round)
//   gc_mark_extents_per_s
//   walk_extents_per_s   the index walk alone (Index::for_each_extent, one
//                        thread), the median round
//   gc_threads           threads a GC pass walks the index with
//   load_avg             the 1-minute load average after the last round: on
//                        a shared machine, what the rates competed with
//   alloc_bytes_per_bucket   the allocator's memory over its buckets
//   lookup_p50_us, lookup_p99_us              at N extents
//   empty_lookup_p50_us, empty_lookup_p99_us  in the small index
//   lookup_p99_ratio     lookup_p99_us / empty_lookup_p99_us
//   probe_hits           hits counted for the probe read (1 expected)
//   map_hit_ratio        of the random lookups at N extents, the share the
//                        index's extent map answered (IndexOptions::
//                        extent_map_extents): random blocks of all F files
//                        mostly miss a map smaller than the index
//   ws_lookup_p50_us, ws_lookup_p99_us, ws_empty_lookup_p50_us,
//   ws_empty_lookup_p99_us, ws_lookup_p99_ratio
//                        the same lookups confined to the first W files (a
//                        working set that is read again and again, as a hit
//                        path), each file looked up twice before timing
// Each target of DESIGN.md's scale section is printed beside its figure.
//
// Environment:
//   BCL_SCALE_EXTENTS  extents to add (default 10000000)
//   BCL_SCALE_FILES    files they spread over (default 100000)
//   BCL_SCALE_LOOKUPS  lookups timed in each index (default 100000)
//   BCL_SCALE_GC_ROUNDS  rounds of a GC pass and a walk (default 3)
//   BCL_SCALE_WS_FILES files of the working set, W (default 2000)
//   BCL_SCALE_MAP_EXTENTS  the extent map of the timed indexes (default
//                      IndexOptions' own; 0 turns it off)
//   BCL_SCALE_DIR      where the temporary directory goes
//
// SIGINT, SIGTERM and SIGHUP stop the run between two batches; the
// directory is removed all the same.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/device/format.h"
#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/index/index_batch.h"
#include "bcachefs_lite/util/crc32c.h"
#include "bcachefs_lite/util/log.h"
#include "bench_support.h"

namespace bcl {
namespace {

constexpr std::uint64_t kCacheBytes = 64ull << 30;
constexpr std::uint32_t kBucketBytes = 512u << 10;
constexpr std::uint32_t kBlockBytes = 4096;
constexpr std::uint64_t kProbeBytes = 1u << 20;
constexpr std::size_t kBatch = 20000;
// Synthetic files take ids from here on: far above any the index hands out.
constexpr std::uint64_t kFirstSyntheticFile = 1ull << 48;

// The targets (issue "operator's view and scale").
constexpr double kTargetMountMs = 1000;
constexpr double kTargetRssMib = 256;
constexpr double kTargetBytesPerBucket = 16;
constexpr double kTargetGcExtentsPerS = 5e6;
constexpr double kTargetLookupRatio = 1.5;

struct Config {
    std::uint64_t extents = 10000000;
    std::uint64_t files = 100000;
    std::uint64_t lookups = 100000;
    std::uint64_t gc_rounds = 3;
    std::uint64_t ws_files = 2000;
    std::uint64_t map_extents = IndexOptions{}.extent_map_extents;
    std::string base_dir;
};

Result<Config> config_from_env() {
    Config c;
    auto extents = env_number("BCL_SCALE_EXTENTS", c.extents);
    if (!extents) return extents.error();
    auto files = env_number("BCL_SCALE_FILES", c.files);
    if (!files) return files.error();
    auto lookups = env_number("BCL_SCALE_LOOKUPS", c.lookups);
    if (!lookups) return lookups.error();
    c.extents = extents.value();
    c.files = std::min(files.value(), c.extents);
    c.lookups = lookups.value();
    auto rounds = env_number("BCL_SCALE_GC_ROUNDS", c.gc_rounds);
    if (!rounds) return rounds.error();
    c.gc_rounds = std::max<std::uint64_t>(rounds.value(), 1);
    auto ws = env_number("BCL_SCALE_WS_FILES", c.ws_files);
    if (!ws) return ws.error();
    c.ws_files = std::clamp<std::uint64_t>(ws.value(), 1, c.files);
    // 0 (the map off) is the one value env_number() refuses.
    const char* map_off = std::getenv("BCL_SCALE_MAP_EXTENTS");
    auto map = map_off && std::string_view(map_off) == "0" ? 0 : env_number("BCL_SCALE_MAP_EXTENTS", c.map_extents);
    if (!map) return map.error();
    c.map_extents = map.value();
    for (const char* name : {"BCL_SCALE_DIR", "TMPDIR"}) {
        const char* v = std::getenv(name);
        if (v != nullptr && *v != '\0') {
            c.base_dir = v;
            break;
        }
    }
    if (c.base_dir.empty()) c.base_dir = "/var/tmp";
    return c;
}

Status check_space(const Config& c) {
    struct statvfs vfs {};
    if (::statvfs(c.base_dir.c_str(), &vfs) != 0) return sys_error(errno, "statvfs " + c.base_dir);
    const std::uint64_t avail = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    // The index takes well under 100 bytes an extent; the cache is sparse.
    const std::uint64_t need = c.extents * 200 + (1ull << 30);
    if (avail < need)
        return make_error(Errc::no_space, fmt::format("{} has {} MiB free, the run needs about {} MiB; set "
                                                      "BCL_SCALE_DIR or lower BCL_SCALE_EXTENTS",
                                                      c.base_dir, avail >> 20, need >> 20));
    return ok();
}

CacheSetOptions set_options(const WorkDir& w, int backing_root) {
    CacheSetOptions o;
    o.cache_paths = {w.file("cache.img")};
    o.index_dir = w.file("index");
    o.tunables.mode = CacheMode::writethrough;
    o.backing_root_fd = backing_root;
    return o;
}

Status write_probe(const std::string& path) {
    std::mt19937_64 rng(99);
    std::vector<std::uint64_t> data(kProbeBytes / 8);
    for (auto& v : data) v = rng();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return sys_error(errno, "create " + path);
    const ssize_t n = ::write(fd, data.data(), kProbeBytes);
    const int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(kProbeBytes)) return sys_error(err, "write " + path);
    return ok();
}

// Reads the whole probe through the set; the hits it counted.
Result<std::uint64_t> read_probe(CacheSet& set, const std::string& path, std::uint64_t bytes) {
    auto file = OpenFile::open(set, path);
    if (!file) return file.error();
    const std::uint64_t hits_before = set.stats().cache_hits;
    std::vector<std::byte> buf(kBlockBytes);
    for (std::uint64_t b = 0; b < bytes / kBlockBytes; ++b) BCL_TRY(file.value()->read_block(b, buf));
    return set.stats().cache_hits - hits_before;
}

// Adds n extents over `files` files to the index in `dir`, in buckets no
// extent uses yet.
Status fill(const std::string& dir, std::uint64_t n, std::uint64_t files, const StopSignals& stop) {
    IndexOptions io;
    auto opened = Index::open(dir, io);
    if (!opened) return opened.error();
    Index& index = *opened.value();
    auto gens = index.load_bucket_gens(0);
    if (!gens) return gens.error();
    std::vector<std::uint8_t> gen_of;
    for (const BucketGenRecord& g : gens.value()) {
        if (g.bucket >= gen_of.size()) gen_of.resize(g.bucket + 1, 0);
        gen_of[g.bucket] = g.gen;
    }
    std::set<std::uint64_t> used;
    BCL_TRY(index.for_each_extent([&](const Extent& e) {
        used.insert(e.value.bucket);
        return true;
    }));
    const std::uint64_t first_bucket = used.empty() ? 1 : *used.rbegin() + 1;
    const std::uint64_t per_bucket = kBucketBytes / kBlockBytes;
    const std::uint64_t buckets_needed = (n + per_bucket - 1) / per_bucket;
    if (first_bucket + buckets_needed > kCacheBytes / kBucketBytes)
        return make_error(Errc::no_space, fmt::format("{} extents of 4 KiB do not fit the 64 GiB cache", n));
    const std::vector<std::byte> zeros(kBlockBytes);
    const std::uint32_t zeros_crc = crc32c(0, zeros);

    IndexBatch batch;
    const std::uint64_t per_file = (n + files - 1) / files;
    for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint64_t bucket = first_bucket + i / per_bucket;
        ExtentValue v;
        v.length = kBlockBytes;
        v.device = 0;
        v.bucket = bucket;
        v.gen = bucket < gen_of.size() ? gen_of[bucket] : 0;
        v.sector = (bucket * kBucketBytes + (i % per_bucket) * kBlockBytes) / kSectorSize;
        v.flags = kExtentCrcValid;
        v.data_crc = zeros_crc;
        v.crc_offset = 0;
        v.crc_length = kBlockBytes;
        // Every other block, so that no two extents of a file touch.
        batch.insert_extent(kFirstSyntheticFile + i / per_file, 2 * (i % per_file) * kBlockBytes, v);
        if (batch.size() == kBatch || i + 1 == n) {
            BCL_TRY(stop.check());
            auto committed = index.commit(batch, false);
            if (!committed) return committed.error();
        }
    }
    return index.sync();
}

struct Latency {
    double p50_us = 0;
    double p99_us = 0;
};

// Lookups of one random block of the synthetic files of an index, all of
// them or, with `ws_files`, only of its first ws_files files.
class LookupTimer {
public:
    LookupTimer(const Index& index, std::uint64_t n, std::uint64_t files, std::uint64_t seed,
                std::uint64_t ws_files = 0)
        : index_(index),
          n_(ws_files ? std::min(n, ws_files * ((n + files - 1) / files)) : n),
          per_file_((n + files - 1) / files),
          rng_(seed) {}

    // Two untimed lookups in every file of the set: the extent map keeps a
    // file at its second miss.
    Status warm() {
        for (int pass = 0; pass < 2; ++pass)
            for (std::uint64_t e = 0; e < n_; e += per_file_) {
                auto found = index_.lookup(kFirstSyntheticFile + e / per_file_, 0, kBlockBytes);
                if (!found) return found.error();
            }
        return ok();
    }

    Status run(std::uint64_t count) {
        for (std::uint64_t i = 0; i < count; ++i) {
            const std::uint64_t e = rng_() % n_;
            const std::uint64_t file = kFirstSyntheticFile + e / per_file_;
            const std::uint64_t off = 2 * (e % per_file_) * kBlockBytes;
            const auto t0 = std::chrono::steady_clock::now();
            auto found = index_.lookup(file, off, off + kBlockBytes);
            const auto t1 = std::chrono::steady_clock::now();
            if (!found) return found.error();
            if (found.value().size() != 1) return make_error(Errc::invalid, "a lookup did not find its extent");
            us_.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
        return ok();
    }
    Latency latency() {
        std::sort(us_.begin(), us_.end());
        if (us_.empty()) return {};
        return Latency{us_[us_.size() / 2], us_[us_.size() * 99 / 100]};
    }

private:
    const Index& index_;
    std::uint64_t n_, per_file_;
    std::mt19937_64 rng_;
    std::vector<double> us_;
};

// The same number of lookups in both indexes, in alternating rounds, so
// that whatever else the machine does falls on both alike; with ws_files,
// in the working set only, after warming it.
Status time_lookups(const Index& full, const Index& small, const Config& c, std::uint64_t ws_files, Latency& full_out,
                    Latency& small_out) {
    constexpr std::uint64_t kRounds = 20;
    LookupTimer a(full, c.extents, c.files, 4242, ws_files), b(small, c.files, c.files, 4343, ws_files);
    if (ws_files) {
        BCL_TRY(a.warm());
        BCL_TRY(b.warm());
    }
    for (std::uint64_t r = 0; r < kRounds; ++r) {
        BCL_TRY(a.run(c.lookups / kRounds));
        BCL_TRY(b.run(c.lookups / kRounds));
    }
    full_out = a.latency();
    small_out = b.latency();
    return ok();
}

struct Figures {
    std::uint64_t extents = 0;
    double fill_s = 0, open_ms = 0, mount_ms = 0, walk_mount_ms = 0, close_ms = 0, gc_s = 0;
    double walk_s = 0;
    unsigned gc_threads = 0;
    double load_avg = 0;
    bool from_snapshot = false;
    Rss mount, gc;
    double bytes_per_bucket = 0;
    Latency full, empty, ws_full, ws_empty;
    double map_hit_ratio = 0;
    std::uint64_t probe_hits = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

double load_average() {
    double load = 0;
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (std::fscanf(f, "%lf", &load) != 1) load = 0;
        std::fclose(f);
    }
    return load;
}

// GC passes, each followed by the walk alone, alternated so that whatever
// else the machine does falls on both alike; the medians.
Status time_gc(CacheSet& set, const Config& c, Figures& out) {
    std::vector<double> gc_s, walk_s;
    for (std::uint64_t r = 0; r < c.gc_rounds; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        BCL_TRY(set.run_gc());
        gc_s.push_back(seconds_since(t0));
        std::uint64_t extents = 0;
        t0 = std::chrono::steady_clock::now();
        BCL_TRY(set.index().for_each_extent([&](const Extent&) {
            ++extents;
            return true;
        }));
        walk_s.push_back(seconds_since(t0));
        out.extents = extents;
    }
    out.gc_s = median(gc_s);
    out.walk_s = median(walk_s);
    out.load_avg = load_average();
    return ok();
}

// Builds the small index: the probe's, and `files` extents (one a file).
Status make_small_index(const WorkDir& w, Logger& log, const StopSignals& stop, const Config& c) {
    FormatOptions fo;
    fo.bucket_size = kBucketBytes;
    fo.block_size = kBlockBytes;
    fo.size = kCacheBytes;
    if (auto sb = format_device(w.file("small.img"), fo); !sb) return sb.error();
    CacheSetOptions o;
    o.cache_paths = {w.file("small.img")};
    o.index_dir = w.file("small-index");
    {
        auto set = CacheSet::open(std::move(o), log);
        if (!set) return set.error();
        BCL_TRY(set.value()->close());
    }  // the index is free again
    return fill(w.file("small-index"), c.files, c.files, stop);
}

Status run(const Config& c, const StopSignals& stop, Figures& out) {
    BCL_TRY(check_space(c));
    auto work = WorkDir::make(c.base_dir, "bcl-scale-bench");
    if (!work) return work.error();
    const WorkDir& w = *work.value();
    const std::string backing = w.file("backing");
    if (::mkdir(backing.c_str(), 0755) != 0) return sys_error(errno, "mkdir " + backing);
    BCL_TRY(write_probe(backing + "/probe"));
    const int root = ::open(backing.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return sys_error(errno, "open " + backing);
    struct CloseRoot {
        int fd;
        ~CloseRoot() { ::close(fd); }
    } close_root{root};

    FormatOptions fo;
    fo.bucket_size = kBucketBytes;
    fo.block_size = kBlockBytes;
    fo.size = kCacheBytes;
    if (auto sb = format_device(w.file("cache.img"), fo); !sb) return sb.error();
    Logger log(LogLevel::warn);
    {
        auto set = CacheSet::open(set_options(w, root), log);
        if (!set) return set.error();
        auto hits = read_probe(*set.value(), backing + "/probe", kProbeBytes);
        if (!hits) return hits.error();
        BCL_TRY(set.value()->close());
    }
    auto t0 = std::chrono::steady_clock::now();
    BCL_TRY(fill(w.file("index"), c.extents, c.files, stop));
    out.fill_s = seconds_since(t0);

    // The fill wrote to the index behind the engine's back: the first open
    // walks it; its clean close leaves the snapshot the measured mount uses.
    BCL_TRY(reset_peak());
    t0 = std::chrono::steady_clock::now();
    auto opened = CacheSet::open(set_options(w, root), log);
    if (!opened) return opened.error();
    auto hits = read_probe(*opened.value(), backing + "/probe", kBlockBytes);
    if (!hits) return hits.error();
    out.walk_mount_ms = seconds_since(t0) * 1000;
    t0 = std::chrono::steady_clock::now();
    BCL_TRY(opened.value()->close());
    out.close_ms = seconds_since(t0) * 1000;
    opened.value().reset();

    t0 = std::chrono::steady_clock::now();
    opened = CacheSet::open(set_options(w, root), log);
    if (!opened) return opened.error();
    std::unique_ptr<CacheSet> set = std::move(opened).value();
    out.open_ms = seconds_since(t0) * 1000;
    hits = read_probe(*set, backing + "/probe", kBlockBytes);
    if (!hits) return hits.error();
    out.mount_ms = seconds_since(t0) * 1000;
    out.probe_hits = hits.value();
    out.from_snapshot = set->opened_from_gc_snapshot();
    auto rss = read_rss();
    if (!rss) return rss.error();
    out.mount = rss.value();

    BCL_TRY(stop.check());
    BCL_TRY(time_gc(*set, c, out));
    out.gc_threads = set->gc_threads();
    rss = read_rss();
    if (!rss) return rss.error();
    out.gc = rss.value();
    const CacheAllocator& alloc = set->alloc().device(0);
    out.bytes_per_bucket = static_cast<double>(alloc.memory_bytes()) / static_cast<double>(alloc.geometry().nbuckets);
    BCL_TRY(set->close());
    set.reset();

    BCL_TRY(stop.check());
    BCL_TRY(make_small_index(w, log, stop, c));
    IndexOptions io;
    io.read_only = true;
    io.extent_map_extents = c.map_extents;
    auto full = Index::open(w.file("index"), io);
    if (!full) return full.error();
    auto small = Index::open(w.file("small-index"), io);
    if (!small) return small.error();
    BCL_TRY(time_lookups(*full.value(), *small.value(), c, 0, out.full, out.empty));
    const ExtentMapStats map = full.value()->extent_map_stats();
    out.map_hit_ratio = map.hits + map.misses ? static_cast<double>(map.hits) / (map.hits + map.misses) : 0;
    return time_lookups(*full.value(), *small.value(), c, c.ws_files, out.ws_full, out.ws_empty);
}

void report(const Figures& f) {
    auto row = [](const char* what, double value, const char* unit, const char* cmp, double target) {
        const bool met = cmp[0] == '<' ? value <= target : value >= target;
        std::printf("  %-34s %12.2f %-10s target %s %g: %s\n", what, value, unit, cmp, target, met ? "met" : "NOT met");
    };
    std::printf("scale: %llu extents\n", static_cast<unsigned long long>(f.extents));
    row("mount until the first read", f.mount_ms, "ms", "<=", kTargetMountMs);
    std::printf("  %-34s %s; walking every extent instead: %.0f ms; the clean close before: %.0f ms\n", "",
                f.from_snapshot ? "from the GC snapshot" : "WITHOUT the GC snapshot", f.walk_mount_ms, f.close_ms);
    row("RSS after mount", f.mount.rss_mib, "MiB", "<=", kTargetRssMib);
    row("RSS after a GC pass", f.gc.rss_mib, "MiB", "<=", kTargetRssMib);
    row("allocator memory per bucket", f.bytes_per_bucket, "bytes", "<=", kTargetBytesPerBucket);
    row("GC mark rate", f.gc_s > 0 ? static_cast<double>(f.extents) / f.gc_s : 0, "extents/s",
        ">=", kTargetGcExtentsPerS);
    std::printf("  %-34s %12.2f extents/s (the index walk alone, one thread; the pass used %u; load %.2f)\n", "",
                f.walk_s > 0 ? f.extents / f.walk_s : 0, f.gc_threads, f.load_avg);
    row("lookup p99, full over small index", f.full.p99_us / f.empty.p99_us, "x", "<=", kTargetLookupRatio);
    std::printf("  %-34s p50 %.2f / %.2f us, p99 %.2f / %.2f us (full / small); extent map hits %.0f%%\n", "",
                f.full.p50_us, f.empty.p50_us, f.full.p99_us, f.empty.p99_us, 100 * f.map_hit_ratio);
    std::printf("  %-34s %12.2f x          p50 %.2f / %.2f us, p99 %.2f / %.2f us\n", "the same in a working set, p99",
                f.ws_full.p99_us / f.ws_empty.p99_us, f.ws_full.p50_us, f.ws_empty.p50_us, f.ws_full.p99_us,
                f.ws_empty.p99_us);
}

void scale(benchmark::State& state, const Config& c, const StopSignals& stop, bool& failed) {
    Figures f;
    for (auto _ : state) {
        if (auto st = run(c, stop, f); !st) {
            failed = true;
            std::fprintf(stderr, "bench_scale: %s\n", st.error().message.c_str());
            state.SkipWithError(st.error().message.c_str());
            return;
        }
    }
    state.counters["extents"] = static_cast<double>(f.extents);
    state.counters["fill_s"] = f.fill_s;
    state.counters["mount_ms"] = f.mount_ms;
    state.counters["open_ms"] = f.open_ms;
    state.counters["walk_mount_ms"] = f.walk_mount_ms;
    state.counters["close_ms"] = f.close_ms;
    state.counters["from_snapshot"] = f.from_snapshot ? 1 : 0;
    state.counters["rss_mount_mib"] = f.mount.rss_mib;
    state.counters["rss_gc_mib"] = f.gc.rss_mib;
    state.counters["peak_mib"] = std::max(f.mount.peak_mib, f.gc.peak_mib);
    state.counters["gc_mark_s"] = f.gc_s;
    state.counters["gc_mark_extents_per_s"] = f.gc_s > 0 ? static_cast<double>(f.extents) / f.gc_s : 0;
    state.counters["walk_extents_per_s"] = f.walk_s > 0 ? static_cast<double>(f.extents) / f.walk_s : 0;
    state.counters["gc_threads"] = f.gc_threads;
    state.counters["load_avg"] = f.load_avg;
    state.counters["alloc_bytes_per_bucket"] = f.bytes_per_bucket;
    state.counters["lookup_p50_us"] = f.full.p50_us;
    state.counters["lookup_p99_us"] = f.full.p99_us;
    state.counters["empty_lookup_p50_us"] = f.empty.p50_us;
    state.counters["empty_lookup_p99_us"] = f.empty.p99_us;
    state.counters["lookup_p99_ratio"] = f.full.p99_us / f.empty.p99_us;
    state.counters["map_hit_ratio"] = f.map_hit_ratio;
    state.counters["ws_lookup_p50_us"] = f.ws_full.p50_us;
    state.counters["ws_lookup_p99_us"] = f.ws_full.p99_us;
    state.counters["ws_empty_lookup_p50_us"] = f.ws_empty.p50_us;
    state.counters["ws_empty_lookup_p99_us"] = f.ws_empty.p99_us;
    state.counters["ws_lookup_p99_ratio"] = f.ws_full.p99_us / f.ws_empty.p99_us;
    state.counters["probe_hits"] = static_cast<double>(f.probe_hits);
    report(f);
}

}  // namespace
}  // namespace bcl

int main(int argc, char** argv) {
    auto config = bcl::config_from_env();
    const std::string name = config ? fmt::format("scale/extents:{}", config.value().extents) : "";
    return bcl::benchmark_main<bcl::Config>(argc, argv, "bench_scale", std::move(config), name, bcl::scale);
}
