// Moving GC: the choice of buckets (pure functions) and the engine's
// rounds on the strand (gc/moving_gc.h says what a round does).
//
// Moving GC (bcache's movinggc.c): after a GC pass, when free buckets run low
// and copy_gc_enabled, the live extents of the sparsest partly used buckets
// (clean or dirty, never pinned ones or buckets in use by a write) are copied,
// in bounded steps on the strand, to fresh buckets taken through the movinggc
// reserve, and their index entries swapped with replace-if-unchanged (a write
// that raced with the copy wins). Moved dirty data stays dirty, its new bucket
// marked dirty; a step that moves dirty data commits synced, so the new copy is
// durable before the old bucket can be reused. A round that moved anything asks
// for a GC pass, which finds the old buckets empty for the allocator.
#include "gc/moving_gc.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>
#include <optional>
#include <vector>

#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/crc32c.h"

namespace bcl {

namespace {

// Free buckets are low below the allocators' reserve plus this fraction of
// all data buckets.
constexpr std::uint64_t kMovingGcFreeFraction = 8;
// Bytes one step copies at most, so that the strand stays responsive.
constexpr std::uint64_t kMovingGcStepBytes = 1u << 20;
// Moving GC's own write point, apart from every file stream's, so that the
// data it moves is packed together.
constexpr unsigned kMovingGcWritePoint = kWritePoints;

bool by_place(const MovingCandidate& a, const MovingCandidate& b) {
    return a.dev != b.dev ? a.dev < b.dev : a.bucket < b.bucket;
}

// Sectors for a moved copy, in one allocation: the index swaps one extent
// for one of the same length. A short one (the end of a bucket) is given
// up, and the next comes from a fresh bucket.
Result<SectorAlloc> alloc_whole(SectorAllocator& sectors, const WriteKey& key, std::uint32_t want, unsigned write_point,
                                std::uint32_t avoid) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto a = sectors.alloc_sectors(key, want, write_point, /*write_prio=*/true, /*pinned=*/false,
                                       /*wait=*/false, avoid);
        if (!a) break;
        if (a.value().sectors == want) return a.value();
        sectors.put(a.value());
    }
    return make_error(Errc::again, "no free bucket to move data to");
}

}  // namespace

bool free_buckets_low(const BucketCount& count, std::uint64_t reserved) {
    return count.free < reserved + count.total / kMovingGcFreeFraction;
}

std::vector<MovingCandidate> choose_moving_buckets(std::vector<MovingCandidate> candidates,
                                                   std::uint32_t bucket_sectors, std::uint64_t reserve_sectors) {
    std::sort(candidates.begin(), candidates.end(), [](const MovingCandidate& a, const MovingCandidate& b) {
        return a.sectors_used != b.sectors_used ? a.sectors_used < b.sectors_used : by_place(a, b);
    });
    std::vector<MovingCandidate> chosen;
    std::uint64_t sectors = 0;
    for (const MovingCandidate& c : candidates) {
        if (c.sectors_used == 0 || c.sectors_used >= bucket_sectors) continue;
        if (sectors + c.sectors_used > reserve_sectors) break;
        sectors += c.sectors_used;
        chosen.push_back(c);
    }
    const std::uint64_t filled = bucket_sectors == 0 ? 0 : (sectors + bucket_sectors - 1) / bucket_sectors;
    if (chosen.size() < filled + 2) return {};
    return chosen;
}

void MovingGcRound::start(std::vector<MovingCandidate> chosen) {
    std::sort(chosen.begin(), chosen.end(), by_place);
    chosen_ = std::move(chosen);
    next = ExtentKey{};
    moved_bytes = 0;
    out_of_space = false;
    running_ = true;
}

std::optional<unsigned> MovingGcRound::wanted(const ExtentValue& v) const {
    for (unsigned i = 0; i < v.nptrs(); ++i) {
        const ExtentPtr p = v.ptr(i);
        const MovingCandidate probe{p.device, p.bucket, 0, 0};
        const auto it = std::lower_bound(chosen_.begin(), chosen_.end(), probe, by_place);
        if (it != chosen_.end() && it->dev == p.device && it->bucket == p.bucket && it->gen == p.gen) return i;
    }
    return std::nullopt;
}

// ---- the engine's side ----

MovingGc::MovingGc(CacheCore& core, std::size_t batch, const MovingGcTunables& tunables)
    : core_(core), batch_(batch), enabled_(tunables.copy_gc_enabled) {}

MovingGcTunables MovingGc::tunables() const { return MovingGcTunables{enabled_.load(std::memory_order_acquire)}; }

void MovingGc::set_tunables(const MovingGcTunables& tunables) {
    enabled_.store(tunables.copy_gc_enabled, std::memory_order_release);
}

void MovingGc::after_pass() {
    if (round_.running() || !enabled_.load(std::memory_order_acquire) || !core_.in_service() ||
        core_.closing.load(std::memory_order_acquire))
        return;
    const auto count = count_buckets(*core_.alloc);
    if (!count) return;
    const std::uint32_t bucket_sectors = core_.alloc->bucket_sectors();
    std::uint64_t reserved = 0;
    std::uint64_t reserve_sectors = 0;
    for (unsigned d = 0; d < core_.alloc->ndevices(); ++d) {
        reserved += core_.alloc->device(d).reserve_capacity();
        reserve_sectors += std::uint64_t{core_.alloc->device(d).sizes().free} * bucket_sectors;
    }
    if (!free_buckets_low(*count, reserved)) return;
    std::vector<MovingCandidate> candidates;
    for (unsigned d = 0; d < core_.alloc->ndevices(); ++d) {
        const CacheAllocator& ca = core_.alloc->device(d);
        const Geometry& g = ca.geometry();
        for (std::uint64_t b = g.first_bucket; b < g.nbuckets; ++b) {
            const BucketInfo info = ca.bucket(b);
            // Pinned (flash-only) data is never moved; a pin means an open
            // bucket or an allocation in flight.
            if (info.pin != 0 || (info.mark != GcMark::reclaimable && info.mark != GcMark::dirty)) continue;
            if (info.sectors_used == 0 || info.sectors_used >= bucket_sectors) continue;
            candidates.push_back(MovingCandidate{d, b, info.gen, info.sectors_used});
        }
    }
    auto chosen = choose_moving_buckets(std::move(candidates), bucket_sectors, reserve_sectors);
    if (chosen.empty()) return;
    core_.log.debug("moving GC: {} of {} buckets free, moving the live data of {} buckets", count->free, count->total,
                    chosen.size());
    round_.start(std::move(chosen));
    boost::asio::post(core_.background->strand(), [this] { kick(); });
}

void MovingGc::kick() {
    auto more = step();
    if (!more) {
        core_.log.error("moving GC: {}", more.error().message);
        return;
    }
    if (more.value()) boost::asio::post(core_.background->strand(), [this] { kick(); });
}

void MovingGc::finish() {
    MovingGcRound& round = round_;
    round.finish();
    core_.counters.moving_gc_runs.fetch_add(1, std::memory_order_relaxed);
    core_.log.debug("moving GC round over: {} bytes moved", round.moved_bytes);
    // The next pass finds the emptied buckets so (GC is what frees them).
    if (round.moved_bytes != 0) {
        core_.gc_requests->note_change();
        core_.gc_requests->request();
    }
}

Result<bool> MovingGc::step() {
    MovingGcRound& round = round_;
    if (!round.running()) return false;
    if (core_.closing.load(std::memory_order_acquire) || !enabled_.load(std::memory_order_acquire) ||
        !core_.in_service() || round.out_of_space) {
        finish();
        return false;
    }
    std::vector<std::pair<Extent, unsigned>> found;
    std::uint64_t bytes = 0;
    std::size_t seen = 0;
    bool at_end = false;
    {
        auto cursor = core_.index->scan_extents(round.next);
        for (; cursor->valid() && seen < batch_ && bytes < kMovingGcStepBytes; cursor->next()) {
            auto key = cursor->key();
            if (!key) {
                finish();
                return key.error();
            }
            const ExtentKey& k = key.value();
            round.next = k.end == UINT64_MAX ? ExtentKey{k.file + 1, 0} : ExtentKey{k.file, k.end + 1};
            ++seen;
            auto value = cursor->value();
            // An entry that does not decode is GC's and fsck's business.
            if (!value) continue;
            const std::optional<unsigned> copy = round.wanted(value.value());
            if (!copy) continue;
            found.emplace_back(Extent{k, value.value()}, *copy);
            bytes += value.value().length;
        }
        if (auto st = cursor->status(); !st) {
            finish();
            return st.error();
        }
        at_end = !cursor->valid();
    }
    if (!found.empty()) move_extents(found);
    if (at_end) {
        finish();
        return false;
    }
    return true;
}

// A copy made and not yet committed: the old extent, its new value, the
// allocation holding the new place (pinned) and the pin on the old bucket.
struct MovingGc::MovedCopy {
    Extent old;
    ExtentValue moved;
    SectorAlloc alloc;
    unsigned copy = 0;  // which of old's copies moved
};

void MovingGc::move_extents(const std::vector<std::pair<Extent, unsigned>>& extents) {
    std::vector<MovedCopy> copies;
    for (const auto& [e, which] : extents) {
        const ExtentPtr from = e.value.ptr(which);
        if (from.device >= core_.alloc->ndevices()) continue;
        CacheAllocator& ca = core_.alloc->device(from.device);
        // The old bucket stays as it is until the swap is committed.
        if (!ca.pin(from.bucket, from.gen)) continue;
        auto copy = copy_extent(e, which);
        if (!copy) {
            ca.put(from.bucket);
            if (copy.error().code == Errc::again) {
                round_.out_of_space = true;
                break;
            }
            core_.log.debug("moving GC skips an extent of cache file {} at {}: {}", e.key.file, e.start(),
                            copy.error().message);
            continue;
        }
        copies.push_back(std::move(copy).value());
    }
    if (copies.empty()) return;
    if (core_.hooks.before_move_commit) core_.hooks.before_move_commit();
    IndexBatch batch;
    bool dirty = false;
    for (const MovedCopy& c : copies) {
        batch.replace_extent_if_unchanged(c.old.key, c.old.value, c.moved);
        dirty = dirty || c.old.value.dirty();
    }
    // Synced when dirty data moves: its old bucket may be reused once no
    // entry points at it, so the new copy and its entry must be durable
    // first (the index flushes the cache device before a synced write).
    auto committed = core_.index->commit(batch, dirty);
    if (!committed) {
        core_.log.warn("moving GC: index update failed, the data stays where it was: {}", committed.error().message);
    } else {
        const auto& skipped = committed.value().skipped;
        for (const MovedCopy& c : copies) {
            if (std::find(skipped.begin(), skipped.end(), c.old.key) != skipped.end()) continue;
            const AllocPtr& p = c.alloc.ptrs.ptr[0];
            // Never invalidated while it holds dirty data (as a dirty write
            // marks its bucket, under the allocation's pin).
            if (c.moved.dirty()) (void)core_.alloc->device(p.dev).gc_mark(p.bucket, p.gen, GcMark::dirty, 0);
            round_.moved_bytes += c.old.value.length;
            core_.counters.moved_bytes.fetch_add(c.old.value.length, std::memory_order_relaxed);
        }
    }
    if (core_.hooks.after_move_commit) core_.hooks.after_move_commit();
    for (const MovedCopy& c : copies) {
        core_.sectors->put(c.alloc);
        const ExtentPtr from = c.old.value.ptr(c.copy);
        core_.alloc->device(from.device).put(from.bucket);
    }
}

Result<MovingGc::MovedCopy> MovingGc::copy_extent(const Extent& e, unsigned copy) {
    const ExtentValue& v = e.value;
    const ExtentPtr src = v.ptr(copy);
    if (!core_.device_usable(src.device)) return make_error(Errc::invalid, "no such cache device, or it failed");
    CacheDevice& dev = *core_.devices[src.device];
    if (src.bucket < dev.first_bucket() || src.bucket >= dev.nbuckets())
        return make_error(Errc::corrupt, "bucket out of range");
    // The whole checksummed range when there is one, so the data can be
    // checked; else the extent alone. Whole blocks, inside the bucket.
    const std::uint64_t bucket_start = dev.offset_of(src.bucket);
    const std::uint64_t data_at = src.sector * kSectorSize;
    const std::uint64_t from = v.crc_valid() ? v.crc_device_offset(copy) : data_at;
    const std::uint64_t to = v.crc_valid() ? from + v.crc_length : data_at + v.length;
    const std::uint64_t lo = round_down(from, core_.block_size);
    const std::uint64_t hi = round_up(to, core_.block_size);
    if (lo < bucket_start || hi > bucket_start + dev.bucket_size() || data_at < from || data_at + v.length > to)
        return make_error(Errc::corrupt, "extent outside its bucket");
    AlignedBuffer buf = AlignedBuffer::uninitialized(hi - lo);
    const auto sector = static_cast<std::uint32_t>((lo - bucket_start) / kSectorSize);
    if (auto st = dev.read_bucket(src.bucket, sector, buf.span()); !st) {
        core_.counters.cache_read_errors.fetch_add(1, std::memory_order_relaxed);
        return st.error();
    }
    if (v.crc_valid() && crc32c(0, buf.span().subspan(from - lo, v.crc_length)) != v.data_crc)
        return make_error(Errc::corrupt, "the data fails its checksum");

    // Only the extent's own bytes move, with a checksum of their own. The
    // copies share one checksum (extent_format.h): the other copies hold
    // the same bytes at their sectors, so the new, narrower window is
    // theirs too.
    const std::uint64_t copy_at = data_at;
    const std::uint64_t copy_len = v.length;
    std::uint32_t avoid = 0;
    for (unsigned i = 0; i < v.nptrs(); ++i)
        if (i != copy && v.ptr(i).device < 32) avoid |= 1u << v.ptr(i).device;

    auto alloc = alloc_whole(*core_.sectors, WriteKey{e.key.file, e.start() / kSectorSize},
                             static_cast<std::uint32_t>(copy_len / kSectorSize), kMovingGcWritePoint, avoid);
    if (!alloc) return alloc.error();
    AlignedBuffer data = AlignedBuffer::uninitialized(copy_len);
    std::memcpy(data.data(), buf.data() + (copy_at - lo), copy_len);
    if (auto st = core_.write_allocation(alloc.value(), data.span()); !st) {
        core_.sectors->put(alloc.value());
        return st.error();
    }
    const AllocPtr& p = alloc.value().ptrs.ptr[0];
    ExtentValue moved = v;
    moved.set_ptr(copy, ExtentPtr{static_cast<std::uint8_t>(p.dev), p.bucket, p.gen, p.offset});
    moved.crc_offset = 0;
    moved.crc_length = v.length;
    moved.data_crc = crc32c(0, data.span());
    // Flags this layer does not know stay as they were.
    moved.flags = static_cast<std::uint8_t>(v.flags | kExtentCrcValid);
    return MovedCopy{e, moved, alloc.value(), copy};
}

}  // namespace bcl
