// The cache device side of every read and write of cached data: an
// extent read from any of its copies, checked against its bucket's gen
// before and after the read (bcache's ptr_stale); an allocation written to
// each of its copies. Both are timed for the congestion meter and count
// their failures.
#include <cstring>

#include "bcachefs_lite/util/aligned_buffer.h"
#include "core/core.h"

namespace bcl {

namespace {

// Whether each extent's copy lies on `device`, inside its own bucket: one
// that claims more is corrupt and must not reach into the next bucket's
// data.
bool inside_buckets(std::span<const Extent> run, unsigned copy, unsigned device, const CacheDevice& dev) {
    for (const Extent& e : run) {
        const ExtentPtr p = e.value.ptr(copy);
        if (p.device != device) return false;
        if (p.bucket < dev.first_bucket() || p.bucket >= dev.nbuckets()) return false;
        const std::uint64_t bucket_start = dev.offset_of(p.bucket);
        const std::uint64_t at = p.sector * kSectorSize;
        if (at < bucket_start || at + e.value.length > bucket_start + dev.bucket_size()) return false;
    }
    return true;
}

}  // namespace

bool CacheCore::read_extents(std::span<const Extent> run, std::uint64_t start, std::uint64_t end, std::byte* dst,
                             bool count_hit, unsigned copy, bool failed_too) {
    for (const Extent& e : run)
        if (copy >= e.value.nptrs()) return false;
    const ExtentPtr first = run.front().value.ptr(copy);
    if (first.device >= devices.size()) return false;
    // A failed device serves only what no other device holds.
    if (!failed_too && !device_usable(first.device)) return false;
    CacheDevice& dev = *devices[first.device];
    CacheAllocator& ca = alloc->device(first.device);
    if (!inside_buckets(run, copy, first.device, dev)) return false;
    // Against the read gen: a bucket waiting for reuse still serves the data
    // it held.
    const auto fresh = [&] {
        for (const Extent& e : run)
            if (ca.ptr_stale(e.value.ptr(copy).bucket, e.value.ptr(copy).gen)) return false;
        return true;
    };
    if (!fresh()) return false;

    const std::uint64_t dev_off = first.sector * kSectorSize + (start - run.front().start());
    const std::uint64_t lo = round_down(dev_off, block_size);
    const std::uint64_t hi = round_up(dev_off + (end - start), block_size);
    const auto sector = static_cast<std::uint32_t>((lo - dev.offset_of(first.bucket)) / kSectorSize);
    // Straight into dst when it takes the device's alignment; a bounce
    // buffer otherwise.
    const bool direct = lo == dev_off && hi == dev_off + (end - start) && is_aligned(dst, block_size);
    AlignedBuffer bounce;
    std::span<std::byte> buf;
    if (direct) {
        buf = {dst, end - start};
    } else {
        bounce = AlignedBuffer::uninitialized(hi - lo);
        buf = bounce.span();
    }
    const SeqClock::time_point started = SeqClock::now();
    const Status read_status = dev.read_buckets(first.bucket, sector, buf);
    io_done(CacheIo::read, started);
    if (!read_status) {
        counters.cache_read_errors.fetch_add(1, std::memory_order_relaxed);
        log.debug("cache read failed, reading the backing file instead: {}", read_status.error().message);
        return false;
    }
    // ptr_stale: a bucket may have been handed out and rewritten, or
    // discarded, while it was read.
    if (!fresh()) return false;
    if (!direct) std::memcpy(dst, bounce.data() + (dev_off - lo), end - start);
    if (!count_hit) return true;
    for (const Extent& e : run) {
        const std::uint64_t part = std::min(e.end(), end) - std::max(e.start(), start);
        // Age first, then raise the hit bucket: the bucket just read is the
        // youngest, not aged by its own read.
        alloc->rescale_priorities(static_cast<std::int64_t>((part + kSectorSize - 1) / kSectorSize));
        const ExtentPtr p = e.value.ptr(copy);
        alloc->bucket_hit(AllocPtr{p.device, p.bucket, p.gen, p.sector});
    }
    return true;
}

bool CacheCore::read_extent(const Extent& e, std::uint64_t start, std::uint64_t end, std::byte* dst, bool count_hit) {
    for (bool failed_too : {false, true})
        for (unsigned i = 0; i < e.value.nptrs(); ++i)
            if (device_usable(e.value.ptr(i).device) != failed_too && device_present(e.value.ptr(i).device) &&
                read_extents({&e, 1}, start, end, dst, count_hit, i, failed_too))
                return true;
    return false;
}

Status CacheCore::write_allocation(const SectorAlloc& a, std::span<const std::byte> data) {
    gc_requests->count_write(std::uint64_t{a.sectors} * a.ptrs.nptrs);
    const std::uint32_t bucket_sectors = alloc->bucket_sectors();
    for (const AllocPtr& p : a.ptrs) {
        const auto sector_in_bucket = static_cast<std::uint32_t>(p.offset - p.bucket * bucket_sectors);
        const SeqClock::time_point started = SeqClock::now();
        const Status written = devices[p.dev]->write_bucket(p.bucket, sector_in_bucket, data);
        io_done(CacheIo::write, started);
        if (!written) {
            counters.cache_write_errors.fetch_add(1, std::memory_order_relaxed);
            return written;
        }
    }
    return ok();
}

void CacheCore::io_done(CacheIo kind, SeqClock::time_point start) {
    const SeqClock::time_point now = SeqClock::now();
    congestion.record(kind, std::chrono::duration_cast<std::chrono::microseconds>(now - start), now);
}

}  // namespace bcl
