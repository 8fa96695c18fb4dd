#include "gc.h"

#include <algorithm>
#include <vector>

#include "bucket_count.h"

namespace bcl {

namespace {

// `v` without the copies listed (in increasing order); at least one is left.
ExtentValue without_copies(const ExtentValue& v, const std::vector<unsigned>& gone) {
    std::vector<ExtentPtr> kept;
    for (unsigned i = 0; i < v.nptrs(); ++i)
        if (std::find(gone.begin(), gone.end(), i) == gone.end()) kept.push_back(v.ptr(i));
    ExtentValue out = v;
    out.replica.reset();
    for (unsigned i = 0; i < kept.size(); ++i) out.set_ptr(i, kept[i]);
    return out;
}

}  // namespace

void GcJob::start(bool drop_all) {
    countdown_.rearm();
    for (unsigned d = 0; d < alloc_.ndevices(); ++d) alloc_.device(d).gc_start();
    running_ = true;
    drop_all_ = drop_all;
    at_end_ = false;
    next_ = ExtentKey{};
    cur_ = GcPassStats{};
}

Result<bool> GcJob::step() {
    if (!running_) return false;
    IndexBatch deletes;
    std::size_t seen = 0;
    {
        auto cursor = index_.scan_extents(next_);
        for (; cursor->valid() && seen < batch_; cursor->next()) {
            auto key = cursor->key();
            auto value = cursor->value();
            if (!key || !value) {
                // An entry that does not decode is fsck's business; skip it.
                if (key) next_ = ExtentKey{key.value().file, key.value().end + 1};
                log_.warn("GC: skipping an index entry that does not decode");
                ++cur_.undecodable;
                if (!key) {
                    finish();
                    return key.error();
                }
                continue;
            }
            const ExtentKey& k = key.value();
            const ExtentValue& v = value.value();
            ++seen;
            ++cur_.extents;
            next_ = k.end == UINT64_MAX ? ExtentKey{k.file + 1, 0} : ExtentKey{k.file, k.end + 1};
            bool stale = true;
            bool served = false;
            bool drop = drop_all_ && !v.dirty();
            if (drop_all_ && v.dirty() && verify_dirty_ && !verify_dirty_(Extent{k, v})) {
                log_.error("dirty data of cache file {} at {} ({} bytes) fails its checksum after an unclean "
                           "shutdown: it never became durable and is dropped",
                           k.file, k.end - v.length, v.length);
                ++cur_.dirty_failed;
                drop = true;
            }
            // Every copy keeps its bucket live; the extent is stale only
            // when none of them is left. A copy whose bucket was reused
            // while another copy stays live is taken out of the extent:
            // left in, its gen would fall ever further behind the bucket's
            // and could match again once the 8-bit gen wraps.
            std::vector<unsigned> gone;
            for (unsigned i = 0; !drop && i < v.nptrs(); ++i) {
                const ExtentPtr p = v.ptr(i);
                if (p.device >= alloc_.ndevices()) {
                    gone.push_back(i);
                    continue;
                }
                const GcMark mark = v.pinned() ? GcMark::pinned : v.dirty() ? GcMark::dirty : GcMark::reclaimable;
                const auto sectors = static_cast<std::uint32_t>((v.length + kSectorSize - 1) / kSectorSize);
                CacheAllocator& ca = alloc_.device(p.device);
                const bool copy_stale = !ca.gc_mark(p.bucket, p.gen, mark, sectors);
                if (!copy_stale) stale = false;
                const bool readable = !ca.ptr_stale(p.bucket, p.gen);
                if (copy_stale && !v.dirty() && readable) served = true;
                if (copy_stale && !readable) gone.push_back(i);
            }
            if (!stale) served = false;
            if (!stale && !gone.empty()) {
                if (v.dirty())
                    log_.error("GC: a copy of dirty extent of cache file {} at {} points into a reused bucket; the "
                               "other copy holds the data",
                               k.file, k.end - v.length);
                deletes.replace_extent_if_unchanged(k, v, without_copies(v, gone));
                ++cur_.copies_dropped;
            }
            if (served) {
                ++cur_.awaiting_reuse;
            } else if (stale) {
                // Dirty buckets are never invalidated, so this is a bug or a
                // damaged index; the data is gone either way.
                if (v.dirty())
                    log_.error("GC: dirty extent of cache file {} at {} points into reused bucket {}: {} bytes lost",
                               k.file, k.end - v.length, v.bucket, v.length);
                deletes.delete_extent_if_unchanged(k, v);
                if (drop) ++cur_.dropped; else ++cur_.stale_deleted;
            } else {
                ++cur_.live;
                if (v.dirty()) cur_.dirty_bytes += v.length;
                if (v.pinned()) cur_.pinned_bytes += v.length;
            }
        }
        BCL_TRY(cursor->status());
        at_end_ = !cursor->valid();
    }
    if (!deletes.empty()) {
        auto committed = index_.commit(deletes, false);
        if (!committed) {
            finish();
            return committed.error();
        }
    }
    if (at_end_) {
        finish();
        return false;
    }
    return true;
}

void GcJob::finish() {
    for (unsigned d = 0; d < alloc_.ndevices(); ++d) alloc_.device(d).gc_finish();
    // Kept for statistics reads that come while the next pass runs.
    if (const auto count = count_buckets(alloc_)) {
        counters_.buckets_total.store(count->total, std::memory_order_relaxed);
        counters_.buckets_free.store(count->free, std::memory_order_relaxed);
    }
    counters_.pinned_bytes.store(cur_.pinned_bytes, std::memory_order_relaxed);
    counters_.gc_runs.fetch_add(1, std::memory_order_relaxed);
    running_ = false;
    last_ = cur_;
    log_.debug("GC pass: {} extents, {} live, {} stale deleted, {} dropped, {} kept for buckets awaiting reuse",
               cur_.extents, cur_.live, cur_.stale_deleted, cur_.dropped, cur_.awaiting_reuse);
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
    start(false);
    for (unsigned d = 0; d < alloc_.ndevices(); ++d) {
        CacheAllocator& ca = alloc_.device(d);
        for (std::uint64_t b = ca.geometry().first_bucket; b < s.devices[d].size(); ++b) {
            const GcSnapshot::Bucket& m = s.devices[d][b];
            if (m.mark == GcMark::unused && m.sectors == 0) continue;
            // The gen is the bucket's own: the snapshot's marks are for the
            // gens the same close persisted.
            if (auto marked = ca.gc_mark(b, ca.bucket(b).gen, m.mark, m.sectors); !marked) {
                finish();
                return marked.error();
            }
        }
    }
    cur_.extents = s.extents;
    cur_.live = s.live;
    cur_.dirty_bytes = s.dirty_bytes;
    cur_.pinned_bytes = s.pinned_bytes;
    finish();
    return ok();
}

Status GcJob::run_pass(bool drop_all) {
    if (!running_) start(drop_all);
    for (;;) {
        auto more = step();
        if (!more) return more.error();
        if (!more.value()) return ok();
    }
}

}  // namespace bcl
