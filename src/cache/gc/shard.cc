#include "gc/shard.h"

#include <algorithm>

namespace bcl {

namespace {

// Extents read and then marked under one bucket lock per device.
constexpr std::size_t kChunk = 256;
// Extents one cursor walks before the shard makes a fresh one: a cursor
// pins the memtables and table files of its view while it lives
// (extent_cursor.h), the snapshot only what changed since.
constexpr std::size_t kCursorExtents = std::size_t{1} << 16;

ExtentKey after(const ExtentKey& k) {
    return k.end == UINT64_MAX ? ExtentKey{k.file + 1, 0} : ExtentKey{k.file, k.end + 1};
}

// `v` without the copies whose bit is set in `gone`; at least one is left.
ExtentValue without_copies(const ExtentValue& v, unsigned gone) {
    ExtentValue out = v;
    out.replica.reset();
    unsigned kept = 0;
    for (unsigned i = 0; i < v.nptrs(); ++i)
        if ((gone & (1u << i)) == 0) out.set_ptr(kept++, v.ptr(i));
    return out;
}

}  // namespace

GcPassStats& GcPassStats::operator+=(const GcPassStats& o) {
    extents += o.extents;
    live += o.live;
    stale_deleted += o.stale_deleted;
    awaiting_reuse += o.awaiting_reuse;
    dropped += o.dropped;
    dirty_bytes += o.dirty_bytes;
    pinned_bytes += o.pinned_bytes;
    dirty_failed += o.dirty_failed;
    undecodable += o.undecodable;
    copies_dropped += o.copies_dropped;
    return *this;
}

Status GcShard::advance(const GcWalk& walk, std::size_t limit) {
    marks_.resize(walk.alloc.ndevices());
    refs_.resize(walk.alloc.ndevices());
    IndexBatch deletes;
    Status result = ok();
    std::size_t walked = 0;
    while (result && !done_ && walked < limit) {
        ExtentScanOptions o;
        o.end = end_;
        o.snapshot = walk.snapshot;
        o.readahead_bytes = walk.readahead_bytes;
        const auto cursor = walk.index.scan_extents(next_, o);
        const std::size_t on_cursor = std::min(limit - walked, kCursorExtents);
        for (std::size_t n = 0; result && !done_ && n < on_cursor;) {
            const std::uint64_t before = stats_.extents;
            result = read_chunk(walk, *cursor, std::min(kChunk, on_cursor - n));
            mark_chunk(walk);
            for (const Pending& p : pending_) settle(walk, p, deletes);
            n += stats_.extents - before;
            walked += stats_.extents - before;
            if (deletes.size() >= walk.batch) {
                if (auto committed = walk.index.commit(deletes, false); !committed) return committed.error();
            }
        }
    }
    if (!deletes.empty()) {
        if (auto committed = walk.index.commit(deletes, false); !committed && result) return committed.error();
    }
    return result;
}

// Reads up to `limit` extents into pending_ and their copies into marks_.
Status GcShard::read_chunk(const GcWalk& walk, ExtentCursor& cursor, std::size_t limit) {
    pending_.clear();
    for (auto& m : marks_) m.clear();
    for (auto& r : refs_) r.clear();
    for (std::size_t n = 0; n < limit && cursor.valid(); cursor.next()) {
        auto key = cursor.key();
        auto value = cursor.value();
        if (!key || !value) {
            // An entry that does not decode is fsck's business; skip it.
            walk.log.warn("GC: skipping an index entry that does not decode");
            ++stats_.undecodable;
            if (!key) return key.error();
            next_ = after(key.value());
            continue;
        }
        next_ = after(key.value());
        ++n;
        ++stats_.extents;
        stage(walk, key.value(), value.value());
    }
    if (!cursor.valid()) {
        BCL_TRY(cursor.status());
        done_ = true;
    }
    return ok();
}

void GcShard::stage(const GcWalk& walk, const ExtentKey& k, const ExtentValue& v) {
    Pending& p = pending_.emplace_back();
    p.key = k;
    p.value = v;
    p.drop = walk.drop_all && !v.dirty();
    if (walk.drop_all && v.dirty() && walk.verify_dirty && *walk.verify_dirty && !(*walk.verify_dirty)(Extent{k, v})) {
        walk.log.error(
            "dirty data of cache file {} at {} ({} bytes) fails its checksum after an unclean "
            "shutdown: it never became durable and is dropped",
            k.file, k.end - v.length, v.length);
        ++stats_.dirty_failed;
        p.drop = true;
    }
    if (p.drop) return;
    const GcMark mark = v.pinned() ? GcMark::pinned : v.dirty() ? GcMark::dirty : GcMark::reclaimable;
    const auto sectors = static_cast<std::uint32_t>((v.length + kSectorSize - 1) / kSectorSize);
    for (unsigned i = 0; i < v.nptrs(); ++i) {
        const ExtentPtr ptr = v.ptr(i);
        if (ptr.device >= walk.alloc.ndevices()) {
            p.no_device[i] = true;
            continue;
        }
        marks_[ptr.device].push_back({ptr.bucket, ptr.gen, mark, sectors});
        refs_[ptr.device].push_back({pending_.size() - 1, i});
    }
}

void GcShard::mark_chunk(const GcWalk& walk) {
    for (unsigned d = 0; d < marks_.size(); ++d) {
        if (marks_[d].empty()) continue;
        walk.alloc.device(d).gc_mark_many(marks_[d]);
        for (std::size_t j = 0; j < marks_[d].size(); ++j) {
            Pending& p = pending_[refs_[d][j].pending];
            p.counted[refs_[d][j].ptr] = marks_[d][j].counted;
            p.readable[refs_[d][j].ptr] = marks_[d][j].readable;
        }
    }
}

// What the marks say of one extent: live, kept for a bucket awaiting reuse,
// stale (deleted), or live with a copy to drop.
void GcShard::settle(const GcWalk& walk, const Pending& p, IndexBatch& deletes) {
    const ExtentKey& k = p.key;
    const ExtentValue& v = p.value;
    // Every copy keeps its bucket live; the extent is stale only when none
    // of them is left. A copy whose bucket was reused while another copy
    // stays live is taken out of the extent: left in, its gen would fall
    // ever further behind the bucket's and could match again once the
    // 8-bit gen wraps.
    bool stale = true;
    bool served = false;
    unsigned gone = 0;
    for (unsigned i = 0; !p.drop && i < v.nptrs(); ++i) {
        if (p.no_device[i]) {
            gone |= 1u << i;
            continue;
        }
        const bool copy_stale = !p.counted[i];
        if (!copy_stale) stale = false;
        if (copy_stale && !v.dirty() && p.readable[i]) served = true;
        if (copy_stale && !p.readable[i]) gone |= 1u << i;
    }
    if (!stale) served = false;
    if (!stale && gone != 0) {
        if (v.dirty())
            walk.log.error(
                "GC: a copy of dirty extent of cache file {} at {} points into a reused bucket; the "
                "other copy holds the data",
                k.file, k.end - v.length);
        deletes.replace_extent_if_unchanged(k, v, without_copies(v, gone));
        ++stats_.copies_dropped;
    }
    if (served) {
        ++stats_.awaiting_reuse;
    } else if (stale) {
        // Dirty buckets are never invalidated, so this is a bug or a
        // damaged index; the data is gone either way.
        if (v.dirty())
            walk.log.error("GC: dirty extent of cache file {} at {} points into reused bucket {}: {} bytes lost",
                           k.file, k.end - v.length, v.bucket, v.length);
        deletes.delete_extent_if_unchanged(k, v);
        if (p.drop)
            ++stats_.dropped;
        else
            ++stats_.stale_deleted;
    } else {
        ++stats_.live;
        if (v.dirty()) stats_.dirty_bytes += v.length;
        if (v.pinned()) stats_.pinned_bytes += v.length;
    }
}

}  // namespace bcl
