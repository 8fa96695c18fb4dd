// GC: a mark pass streams every extent in bounded steps on the strand, reading
// the index as it was when the pass started, cut into key ranges that
// gc_threads threads walk at once within each step; stale extents are deleted
// with delete-if-unchanged. A pass is asked for (GcRequests::request(), at
// most one queued) by the GC timer, by the allocator when it finds nothing to
// invalidate (if anything changed since the last pass), and, as bcache's
// sectors_to_gc does, once a sixteenth of the cache's data sectors has been
// written to the cache since the last pass started (core/gc_requests.h). Foreground inserts continue
// during a pass; since every read checks gens, a bucket whose clean data GC
// undercounted can only be invalidated with its gen bumped, which costs a later
// miss and never returns wrong data. Dirty data is safe from that: its bucket
// is marked dirty at insert (under its allocation pin), and GC only clears
// marks of unpinned buckets at the start of a pass, before it reads the extents
// inserted until then.
#include "gc/gc.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "gc/bucket_count.h"
#include "gc/threads.h"

namespace bcl {

namespace {

// run_pass() cuts the keys into this many shards per thread, so that a
// thread done with a small shard takes another instead of waiting for the
// others: the cuts are estimates.
constexpr unsigned kShardsPerThread = 4;
// Read-ahead of a shard's cursor: table files are read in large requests
// instead of RocksDB's own read-ahead, which starts at a few KiB for every
// new cursor.
constexpr std::size_t kReadaheadBytes = std::size_t{1} << 20;

unsigned pick_threads(unsigned asked) {
    if (asked != 0) return asked;
    return std::max(2u, std::thread::hardware_concurrency());
}

GcSplit default_split() {
    return [](const Index& index, unsigned shards) { return index.split_extents(shards); };
}

}  // namespace

GcJob::GcJob(Index& index, AllocSet& alloc, CacheCounters& counters, GcCountdown& countdown, Logger& log,
             GcOptions options)
    : index_(index),
      alloc_(alloc),
      counters_(counters),
      countdown_(countdown),
      log_(log),
      batch_(options.batch ? options.batch : 1),
      threads_(pick_threads(options.threads)),
      verify_dirty_(std::move(options.verify_dirty)),
      split_(options.split ? std::move(options.split) : default_split()) {}

GcJob::~GcJob() = default;

void GcJob::clear_marks() {
    countdown_.rearm();
    for (unsigned d = 0; d < alloc_.ndevices(); ++d) alloc_.device(d).gc_start();
    running_ = true;
}

void GcJob::start(bool drop_all) {
    clear_marks();
    drop_all_ = drop_all;
    // Taken after gc_start(): see the header for why this view is enough.
    view_ = index_.take_snapshot();
    shards_.clear();
    ExtentKey from{};
    for (const ExtentKey& cut : split_(index_, threads_ * kShardsPerThread)) {
        if (cut <= from) continue;  // whatever the split says, the shards stay in order
        shards_.emplace_back(from, cut);
        from = cut;
    }
    shards_.emplace_back(from, std::nullopt);
}

GcWalk GcJob::walk() const {
    return GcWalk{index_, alloc_, log_, view_.get(), drop_all_, &verify_dirty_, batch_, kReadaheadBytes};
}

Result<bool> GcJob::step() {
    if (!running_) return false;
    std::vector<GcShard*> picked;
    for (GcShard& s : shards_)
        if (!s.done() && picked.size() < threads_) picked.push_back(&s);
    if (!picked.empty()) {
        const std::size_t each = (batch_ + picked.size() - 1) / picked.size();
        std::vector<Status> results(picked.size(), ok());
        const GcWalk w = walk();
        run_workers(static_cast<unsigned>(picked.size()),
                    [&](unsigned i) { results[i] = picked[i]->advance(w, each); });
        BCL_TRY(first_error(results));
    }
    if (std::any_of(shards_.begin(), shards_.end(), [](const GcShard& s) { return !s.done(); })) return true;
    finish();
    return false;
}

Status GcJob::run_pass(bool drop_all) {
    if (!running_) start(drop_all);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::vector<Status> results(shards_.size(), ok());
    const GcWalk w = walk();
    const auto nthreads = static_cast<unsigned>(std::min<std::size_t>(threads_, shards_.size()));
    run_workers(nthreads, [&](unsigned) {
        for (std::size_t i = next.fetch_add(1); i < shards_.size() && !failed.load(); i = next.fetch_add(1)) {
            results[i] = shards_[i].advance(w, SIZE_MAX);
            if (!results[i]) failed.store(true);
        }
    });
    BCL_TRY(first_error(results));
    finish();
    return ok();
}

Status GcJob::first_error(std::vector<Status>& results) {
    for (Status& r : results)
        if (!r) {
            finish();
            return std::move(r);
        }
    return ok();
}

void GcJob::finish() {
    GcPassStats totals;
    for (const GcShard& s : shards_) totals += s.stats();
    finish_with(totals);
}

void GcJob::finish_with(const GcPassStats& totals) {
    shards_.clear();
    view_.reset();
    for (unsigned d = 0; d < alloc_.ndevices(); ++d) alloc_.device(d).gc_finish();
    // Kept for statistics reads that come while the next pass runs.
    if (const auto count = count_buckets(alloc_)) {
        counters_.buckets_total.store(count->total, std::memory_order_relaxed);
        counters_.buckets_free.store(count->free, std::memory_order_relaxed);
    }
    counters_.pinned_bytes.store(totals.pinned_bytes, std::memory_order_relaxed);
    counters_.gc_runs.fetch_add(1, std::memory_order_relaxed);
    running_ = false;
    last_ = totals;
    log_.debug("GC pass: {} extents, {} live, {} stale deleted, {} dropped, {} kept for buckets awaiting reuse",
               totals.extents, totals.live, totals.stale_deleted, totals.dropped, totals.awaiting_reuse);
}

GcSnapshot GcJob::snapshot() const {
    GcSnapshot s = take_gc_snapshot(alloc_);
    s.extents = last_.extents;
    s.live = last_.live;
    s.dirty_bytes = last_.dirty_bytes;
    s.pinned_bytes = last_.pinned_bytes;
    return s;
}

Status GcJob::restore(const GcSnapshot& s) {
    if (running_) return make_error(Errc::busy, "GC snapshot: a pass is running");
    if (s.devices.size() != alloc_.ndevices())
        return make_error(Errc::invalid, "GC snapshot: made for another number of devices");
    for (unsigned d = 0; d < alloc_.ndevices(); ++d)
        if (s.devices[d].size() != alloc_.device(d).geometry().nbuckets)
            return make_error(Errc::invalid, "GC snapshot: made for another number of buckets");
    clear_marks();
    for (unsigned d = 0; d < alloc_.ndevices(); ++d) {
        CacheAllocator& ca = alloc_.device(d);
        for (std::uint64_t b = ca.geometry().first_bucket; b < s.devices[d].size(); ++b) {
            const GcSnapshot::Bucket& m = s.devices[d][b];
            if (m.mark == GcMark::unused && m.sectors == 0) continue;
            // The gen is the bucket's own: the snapshot's marks are for the
            // gens the same close persisted.
            if (auto marked = ca.gc_mark(b, ca.bucket(b).gen, m.mark, m.sectors); !marked) {
                finish_with(GcPassStats{});
                return marked.error();
            }
        }
    }
    GcPassStats totals;
    totals.extents = s.extents;
    totals.live = s.live;
    totals.dirty_bytes = s.dirty_bytes;
    totals.pinned_bytes = s.pinned_bytes;
    finish_with(totals);
    return ok();
}

}  // namespace bcl
