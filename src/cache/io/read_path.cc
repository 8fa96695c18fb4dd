// DataPath::read: hits from the cache device, gaps and stale extents from
// the backing file, misses handed to CacheCore::insert_clean(), as the
// request's route (route.h) allows.
//
// Reads: the extents overlapping the range are looked up with one Seek; extents
// whose gens equal their buckets' are read from the cache device, those back to
// back on it with one I/O, straight into the caller's buffer when it is aligned
// (else through a bounce buffer), and the gens are checked again after the read
// (bcache's ptr_stale): a run that fails is read again extent by extent; a
// changed gen, a read error or a gap is read from the backing file instead —
// except for dirty data, whose only copy is in the cache: it is looked up again
// (moving GC may have moved it and its old bucket been reused) and, if the
// index still holds it, the read fails (EIO), never returning older backing
// data. A read that cannot use the cache at all (the coherency check or the
// index lookup failed, or the file is bypassed) goes to the backing file alone
// only if the file has no dirty-file record; otherwise it fails (EIO) too,
// while a cache that never held dirty data stays available. Missed data,
// widened to whole blocks, is written to the cache through the open buckets and
// indexed without waiting for durability (not in mode none), if the promotion
// policy admits it (promotion.h, io/admission.h). The block that
// holds end of file is cached too, padded with zeroes; reads clamp what the
// cache serves to the size the file record holds and read anything past it from
// the backing file, so the padding is never returned.
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bcachefs_lite/cache/route.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "files/backing_file_io.h"
#include "io/admission.h"
#include "io/data_path.h"

namespace bcl {

struct DataPath::ReadState {
    CachedFile& file;
    BackingSource& backing;
    std::uint64_t offset;  // of the request
    std::span<std::byte> out;
    std::uint64_t file_id;
    std::uint64_t seq;  // write_seq sampled before any backing read
    bool may_insert;
    bool pinned = false;        // the file is pinned: every miss is inserted
    bool sequential = false;    // bypassed as sequential: counted apart
    bool from_backing = false;  // some byte came from the backing file
    std::uint64_t bytes_cache = 0;
    std::uint64_t bytes_backing = 0;
    std::uint64_t eof = UINT64_MAX;  // end of file, once a backing read found it
};

namespace {

// Whether b follows a directly, in the file and (their first copies) on
// the same cache device.
bool follows(const Extent& a, const Extent& b) {
    return a.end() == b.start() && a.value.device == b.value.device &&
           b.value.sector == a.value.sector + a.value.length / kSectorSize;
}

}  // namespace

DataPath::DataPath(CacheCore& core, Admission& admission, Writeback& writeback)
    : core_(core), admission_(admission), writeback_(writeback) {}

// Reads [start, end) of the request from the backing file. With `insert`,
// the read is widened to whole blocks and what it got is inserted into the
// cache; without, it is read as asked (past the size the record knows).
Status DataPath::read_backing(ReadState& st, std::uint64_t start, std::uint64_t end, bool insert) {
    std::byte* dst = st.out.data() + (start - st.offset);
    const auto failed = [this](const Error& e) {
        core_.backing_link.failed(e);
        return e;
    };
    // The open (a lazy one) and the read may hang with the backing.
    BackingLink::Call call = core_.backing_link.begin_call();
    auto fd = st.backing.fd();
    if (!fd) return failed(fd.error());
    if (!insert) {
        auto n = pread_full(fd.value(), dst, end - start, start);
        if (!n) return failed(n.error());
        if (n.value() != 0) st.from_backing = true;
        st.bytes_backing += n.value();
        if (start + n.value() < end) st.eof = start + n.value();
        return ok();
    }
    const std::uint64_t lo = round_down(start, core_.block_size);
    const std::uint64_t hi = round_up(end, core_.block_size);
    BufferLease buf = miss_buffers_.take(hi - lo);
    auto n = pread_full(fd.value(), buf.data(), hi - lo, lo);
    call = BackingLink::Call();
    if (!n) return failed(n.error());
    // Zeroes past end of file: the padding of the block that holds it.
    std::memset(buf.data() + n.value(), 0, hi - lo - n.value());
    const std::uint64_t got_end = lo + n.value();
    if (got_end > start) {
        const std::uint64_t copy_end = std::min(end, got_end);
        std::memcpy(dst, buf.data() + (start - lo), copy_end - start);
        st.bytes_backing += copy_end - start;
        st.from_backing = true;
    }
    if (got_end < end) st.eof = std::max(got_end, start);
    const std::uint64_t insert_len = round_up(n.value(), core_.block_size);
    if (st.may_insert && insert_len != 0 && !admission_.insert_congested() &&
        (st.pinned || admission_.promote_miss(st.file_id, lo, insert_len)))
        core_.insert_clean(st.file, st.file_id, st.seq, lo, buf.span().subspan(0, insert_len));
    return ok();
}

Result<bool> DataPath::read_moved(ReadState& st, const Extent& old, std::uint64_t start, std::uint64_t end) {
    auto found = core_.index->lookup(st.file_id, start, end);
    if (!found) return false;
    std::uint64_t pos = start;
    for (const Extent& e : found.value()) {
        if (e == old) return false;
        const std::uint64_t s = std::max(e.start(), pos);
        const std::uint64_t t = std::min(e.end(), end);
        if (s >= t) continue;
        // Written meanwhile: the backing file has it now.
        if (pos < s) BCL_TRY(read_backing(st, pos, s, false));
        if (core_.read_extent(e, s, t, st.out.data() + (s - st.offset))) {
            st.bytes_cache += t - s;
        } else if (e.value.dirty()) {
            return false;
        } else {
            // Written back and then evicted meanwhile.
            BCL_TRY(read_backing(st, s, t, false));
        }
        pos = t;
    }
    if (pos < end) BCL_TRY(read_backing(st, pos, end, false));
    return true;
}

Status DataPath::backing_only_allowed(const CachedFile& file, std::uint64_t file_id, std::string_view why) {
    // Without any dirty data since the cache opened, a clean cache stays
    // available whatever fails.
    if (file_id == 0 || !core_.may_hold_dirty()) return ok();
    auto record = core_.index->get_dirty_file(file_id);
    if (record && !record.value()) return ok();
    return make_error(Errc::io, fmt::format("file {}:{} may have dirty data in the cache, newer than its backing file, "
                                            "and {}: {}",
                                            file.identity.dev, file.identity.ino, why,
                                            record ? "not reading the older data" : record.error().message));
}

Result<bool> DataPath::revalidate_for_read(CachedFile& file, BackingSource& backing) {
    if (core_.window.holds(file.checked_ns.load(std::memory_order_acquire))) return true;
    Status checked = ok();
    {
        const BackingLink::Call call = core_.backing_link.begin_call();
        auto fd = backing.fd();
        checked = fd ? core_.revalidate(file, fd.value()) : Status(fd.error());
    }
    if (!checked) {
        core_.backing_link.failed(checked.error());
        return checked.error();
    }
    core_.backing_link.answered();
    return false;
}

Status DataPath::serve_extents(ReadState& st, const std::vector<Extent>& extents, std::uint64_t& pos,
                               std::uint64_t cache_end) {
    // Extents up to this index are read one by one: a run of them failed.
    std::size_t singly_until = 0;
    for (std::size_t i = 0; i < extents.size() && st.eof == UINT64_MAX;) {
        const Extent& e = extents[i];
        const std::uint64_t s = std::max(e.start(), pos);
        const std::uint64_t t = std::min(e.end(), cache_end);
        if (s >= t) {
            ++i;
            continue;
        }
        if (pos < s) {
            BCL_TRY(read_backing(st, pos, s, true));
            if (st.eof != UINT64_MAX) break;
        }
        // Extents written back to back (one miss insert, one sequential
        // stream) are read with one I/O.
        std::size_t j = i + 1;
        std::uint64_t run_end = t;
        if (i >= singly_until) {
            while (j < extents.size() && run_end < cache_end && follows(extents[j - 1], extents[j])) {
                run_end = std::min(extents[j].end(), cache_end);
                ++j;
            }
        }
        if (j > i + 1) {
            if (core_.read_extents(std::span(extents).subspan(i, j - i), s, run_end, st.out.data() + (s - st.offset))) {
                st.bytes_cache += run_end - s;
                pos = run_end;
                i = j;
            } else {
                singly_until = j;
            }
            continue;
        }
        if (core_.read_extent(e, s, t, st.out.data() + (s - st.offset))) {
            st.bytes_cache += t - s;
        } else if (e.value.dirty()) {
            auto moved = read_moved(st, e, s, t);
            if (!moved) return moved.error();
            if (moved.value()) {
                pos = t;
                ++i;
                continue;
            }
            // The only copy: the backing file holds older data, which must
            // never be served in its place.
            return make_error(Errc::io, fmt::format("dirty data of file {}:{} at offset {} cannot be read from "
                                                    "the cache device",
                                                    st.file.identity.dev, st.file.identity.ino, s));
        } else {
            BCL_TRY(read_backing(st, s, t, true));
        }
        pos = t;
        ++i;
    }
    return ok();
}

void DataPath::count_read(const ReadState& st, std::size_t result) {
    if (result == 0) return;
    if (st.sequential) {
        core_.counters.bypassed.fetch_add(result, std::memory_order_relaxed);
        (st.from_backing ? core_.counters.cache_bypass_misses : core_.counters.cache_bypass_hits)
            .fetch_add(1, std::memory_order_relaxed);
    } else if (st.from_backing) {
        core_.counters.cache_misses.fetch_add(1, std::memory_order_relaxed);
    } else {
        core_.counters.cache_hits.fetch_add(1, std::memory_order_relaxed);
    }
    core_.counters.bytes_read_cache.fetch_add(st.bytes_cache, std::memory_order_relaxed);
    core_.counters.bytes_read_backing.fetch_add(st.bytes_backing, std::memory_order_relaxed);
}

Result<std::vector<Extent>> DataPath::extents_for_read(ReadState& st, std::uint64_t cache_end, bool dirty_only) {
    std::vector<Extent> extents;
    if (st.offset < cache_end) {
        Result<std::vector<Extent>> found =
            core_.hooks.fail_read_lookup && core_.hooks.fail_read_lookup(st.file, st.offset, st.out.size())
                ? Result<std::vector<Extent>>(make_error(Errc::io, "index lookup failed (test hook)"))
                : core_.index->lookup(st.file_id, st.offset, cache_end);
        if (found) {
            extents = std::move(found).value();
            if (dirty_only) std::erase_if(extents, [](const Extent& e) { return !e.value.dirty(); });
        } else {
            BCL_TRY(backing_only_allowed(st.file, st.file_id,
                                         fmt::format("its index lookup failed ({})", found.error().message)));
            core_.log.warn("index lookup failed, reading the backing file: {}", found.error().message);
            st.may_insert = false;
        }
    }
    if (core_.hooks.after_read_lookup) core_.hooks.after_read_lookup(st.file, st.offset, st.out.size());
    return extents;
}

Result<std::size_t> DataPath::read(CachedFile& file, BackingSource& backing, std::uint64_t offset,
                                   std::span<std::byte> out, ReadFlags flags) {
    if (out.empty()) return std::size_t{0};
    if (offset > UINT64_MAX - out.size()) return make_error(Errc::invalid, "read past the largest offset");
    // While the backing hangs, what the cache holds whole is served without
    // asking it, and the rest fails at once: another call would only hang
    // with the one in flight.
    if (core_.backing_link.hanging())
        return read_offline(file, offset, out, sys_error(ETIMEDOUT, "the backing directory does not answer"));
    // Before anything is served from the cache (invariant 5), unless the last
    // check is within the coherency window; a change found here bumps write_seq, so it comes before the sample below.
    // If the check itself fails, this read goes to the backing file alone (if it may), unless the backing
    // directory does not answer: then the cache serves what it holds whole, and nothing else.
    const Result<bool> coherent = revalidate_for_read(file, backing);
    if (!coherent && BackingLink::unreachable(coherent.error().sys_errno))
        return read_offline(file, offset, out, coherent.error());
    // Sampled before the backing file is read (invariant 4).
    const std::uint64_t seq = file.write_seq.load(std::memory_order_acquire);
    std::uint64_t file_id, known_size;
    bool bypass, pinned;
    {
        std::lock_guard lk(file.mutex);
        file_id = file.record.file_id;
        known_size = file.record.size;
        pinned = file.record.pinned();
        bypass = file.bypass || file_id == 0 || !coherent;
    }
    if (bypass)
        BCL_TRY(backing_only_allowed(file, file_id,
                                     coherent
                                         ? std::string("the cache is bypassed for it")
                                         : fmt::format("its coherency check failed ({})", coherent.error().message)));
    const ReadRoute route =
        resolve_read_route(ReadFacts{core_.mode.load(std::memory_order_acquire), core_.in_service(),
                                     core_.closing.load(std::memory_order_acquire), bypass, pinned},
                           [&] { return admission_.sequential(file_id, offset, out.size(), flags.writer); });
    ReadState st{file, backing, offset, out, file_id, seq, route.insert_misses};
    st.pinned = pinned;
    st.sequential = route.sequential;
    // Within the window the record's size is the file's: nothing past it
    // is asked of the backing file either.
    const bool trusted = !bypass && coherent.value();
    const std::uint64_t end =
        trusted ? std::max(offset, std::min(offset + out.size(), known_size)) : offset + out.size();
    // The cache serves at most up to the size the record knows; the block
    // holding end of file is cached with zero padding that must not show.
    const std::uint64_t cache_end = route.serve == ReadRoute::Serve::nothing ? offset : std::min(end, known_size);

    auto extents = extents_for_read(st, cache_end, route.serve == ReadRoute::Serve::dirty_only);
    if (!extents) return extents.error();
    std::uint64_t pos = offset;
    BCL_TRY(serve_extents(st, extents.value(), pos, cache_end));
    if (st.eof == UINT64_MAX && pos < cache_end) {
        BCL_TRY(read_backing(st, pos, cache_end, true));
        pos = cache_end;
    }
    if (st.eof == UINT64_MAX && pos < end) BCL_TRY(read_backing(st, pos, end, false));

    const std::uint64_t result_end = std::min(end, st.eof);
    const std::size_t result = result_end > offset ? static_cast<std::size_t>(result_end - offset) : 0;
    count_read(st, result);
    return result;
}

}  // namespace bcl
