// CacheCore::insert_clean: data read from the backing file goes to the
// cache device through the open buckets and into the index, unless a write
// raced with it (invariant 4).
//
// Invariant 4: a miss insert samples the file's write_seq before reading the
// backing file and inserts, under the file's mutex, only if it is unchanged;
// writes bump it under the same mutex after the backing write.
// options.hooks.before_miss_insert runs between the two, for tests.
#include "bcachefs_lite/util/crc32c.h"
#include "core/core.h"

namespace bcl {

std::uint64_t CacheCore::insert_clean(CachedFile& file, std::uint64_t file_id, std::uint64_t seq, std::uint64_t offset,
                                      std::span<const std::byte> data, bool pinned_only) {
    if (hooks.before_miss_insert) hooks.before_miss_insert(file, offset, data.size());
    // Nothing new goes to a cache device out of service.
    if (!in_service()) return 0;
    // Cheap early exit; the authoritative check is under the file's mutex.
    if (file.write_seq.load(std::memory_order_acquire) != seq) {
        counters.cache_miss_collisions.fetch_add(1, std::memory_order_relaxed);
        return 0;
    }
    bool pinned;
    {
        std::lock_guard lk(file.mutex);
        pinned = file.record.pinned();
    }
    // A pinned file's data past the pin limit is cached as any other data
    // (reclaimable), or, for the pin fetch, not at all.
    if (pinned && counters.pinned_bytes.load(std::memory_order_relaxed) + data.size() > pin_limit_bytes()) {
        if (pinned_only) return 0;
        pinned = false;
    }
    if (!pinned && pinned_only) return 0;
    const std::uint32_t bucket_sectors = alloc->bucket_sectors();
    const auto write_point = static_cast<unsigned>(file_id % kWritePoints);
    std::uint64_t done = 0;
    while (done < data.size()) {
        const std::uint64_t left_sectors = (data.size() - done) / kSectorSize;
        const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(left_sectors, bucket_sectors));
        auto a = sectors->alloc_sectors(WriteKey{file_id, (offset + done) / kSectorSize}, want, write_point,
                                        /*write_prio=*/false, pinned, /*wait=*/false);
        if (!a) {
            // A read never waits for a bucket: it stays uncached.
            counters.insert_no_space.fetch_add(1, std::memory_order_relaxed);
            return done;
        }
        const std::uint64_t len = std::uint64_t{a.value().sectors} * kSectorSize;
        if (!insert_clean_piece(file, file_id, seq, offset + done, data.subspan(done, len), a.value(), pinned))
            return done;
        done += len;
    }
    return done;
}

// One allocation's piece: written to the cache device, then indexed under
// the file's mutex unless a write, a renewal or a pin change came in
// between (invariant 4). The allocation is put either way: the data is
// reachable through the index now, or never will be.
bool CacheCore::insert_clean_piece(CachedFile& file, std::uint64_t file_id, std::uint64_t seq, std::uint64_t at,
                                   std::span<const std::byte> piece, const SectorAlloc& a, bool pinned) {
    const AllocPtr& p = a.ptrs.ptr[0];
    if (const Status written = write_allocation(a, piece); !written) {
        log.debug("cache write failed, not caching: {}", written.error().message);
        sectors->put(a);
        return false;
    }
    ExtentValue value = make_extent_value(piece.size(), static_cast<std::uint8_t>(p.dev), p.bucket, p.gen, p.offset,
                                          crc32c(0, piece), /*dirty=*/false);
    if (pinned) value.flags |= kExtentPinned;
    bool collided = false, failed = false;
    {
        std::lock_guard lk(file.mutex);
        // An unpin (or pin) meanwhile: the flag must say what the record says.
        if (file.write_seq.load(std::memory_order_acquire) != seq || file.bypass || file.record.file_id != file_id ||
            file.record.pinned() != pinned) {
            collided = true;
        } else if (auto r = index->insert_extent(file_id, at, value, /*sync=*/false); !r) {
            log.warn("index insert failed, not caching: {}", r.error().message);
            failed = true;
        } else {
            account_overwrites(r.value());
            if (pinned) {
                // Never invalidated from now on, as dirty data is marked at
                // its insert (under the allocation's pin, so a GC pass
                // starting now keeps the mark); GC marks it so again on
                // every pass while the extent is pinned.
                (void)alloc->device(p.dev).gc_mark(p.bucket, p.gen, GcMark::pinned, 0);
                counters.pinned_bytes.fetch_add(piece.size(), std::memory_order_relaxed);
            }
        }
    }
    sectors->put(a);
    if (collided) counters.cache_miss_collisions.fetch_add(1, std::memory_order_relaxed);
    return !collided && !failed;
}

}  // namespace bcl
