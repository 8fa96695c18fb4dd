// Reads while the backing directory does not answer (backing_link.h). The
// file's record is then all the engine knows of the file: a range the cache
// holds whole, clean or dirty, is served as a hit within the coherency
// window would be, the record's size standing for end of file; anything
// else fails with the backing directory's error, and nothing is inserted.
#include <algorithm>
#include <vector>

#include "files/file_table.h"
#include "io/data_path.h"

namespace bcl {

namespace {

// Whether `extents` (in file order, not overlapping, as a lookup returns
// them) hold [start, end) without a gap.
bool covers(const std::vector<Extent>& extents, std::uint64_t start, std::uint64_t end) {
    std::uint64_t pos = start;
    for (const Extent& e : extents) {
        if (pos >= end) break;
        if (e.start() > pos) return false;
        pos = std::max(pos, e.end());
    }
    return pos >= end;
}

}  // namespace

Result<std::shared_ptr<CachedFile>> DataPath::open_offline_file(const struct statx& stx) {
    if (core_.closing.load(std::memory_order_acquire)) return make_error(Errc::shutdown, "the cache is closing");
    if (!core_.backing_link.down()) return std::shared_ptr<CachedFile>();
    // Checked at 0, never: a state opened anew makes its every read check
    // the backing file first, and serve from the cache only if that fails.
    return core_.files->open_if_current(stx, 0);
}

Result<std::size_t> DataPath::read_offline(CachedFile& file, std::uint64_t offset, std::span<std::byte> out,
                                           const Error& backing_error) {
    std::uint64_t file_id, known_size;
    {
        std::lock_guard lk(file.mutex);
        if (file.bypass || file.record.file_id == 0) return backing_error;
        file_id = file.record.file_id;
        known_size = file.record.size;
    }
    const std::uint64_t end = std::min(offset + out.size(), known_size);
    if (offset >= end) return std::size_t{0};
    // Moving GC may move an extent (and its old bucket be reused) between
    // the lookup and the read: a second lookup finds where it went.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto found = core_.index->lookup(file_id, offset, end);
        if (!found) return backing_error;
        std::vector<Extent> extents = std::move(found).value();
        // Out of service the cache serves its dirty data only (cache_state.h).
        if (!core_.in_service()) std::erase_if(extents, [](const Extent& e) { return !e.value.dirty(); });
        if (!covers(extents, offset, end)) return backing_error;
        const bool read_whole = std::all_of(extents.begin(), extents.end(), [&](const Extent& e) {
            const std::uint64_t s = std::max(e.start(), offset);
            const std::uint64_t t = std::min(e.end(), end);
            return s >= t || core_.read_extent(e, s, t, out.data() + (s - offset));
        });
        if (!read_whole) continue;
        core_.counters.cache_hits.fetch_add(1, std::memory_order_relaxed);
        core_.counters.offline_reads.fetch_add(1, std::memory_order_relaxed);
        core_.counters.bytes_read_cache.fetch_add(end - offset, std::memory_order_relaxed);
        return static_cast<std::size_t>(end - offset);
    }
    return backing_error;
}

}  // namespace bcl
