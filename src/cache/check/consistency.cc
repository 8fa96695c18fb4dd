#include "bcachefs_lite/cache/consistency.h"

#include <fmt/format.h>

#include <unordered_set>

namespace bcl {

namespace {

void problem(ConsistencyReport& r, std::string line) {
    ++r.problem_count;
    if (r.problems.size() < ConsistencyReport::kMaxProblems) r.problems.push_back(std::move(line));
}

}  // namespace

Result<ConsistencyReport> check_consistency(const Index& index, const AllocSet& alloc) {
    ConsistencyReport r;
    const unsigned ndev = static_cast<unsigned>(alloc.ndevices());
    std::vector<std::vector<std::uint32_t>> live(ndev);
    std::vector<std::unordered_set<std::uint64_t>> free_buckets(ndev);
    for (unsigned d = 0; d < ndev; ++d) {
        const CacheAllocator& ca = alloc.device(d);
        live[d].assign(ca.geometry().nbuckets, 0);
        for (std::uint64_t b : ca.free_inc()) free_buckets[d].insert(b);
        for (std::uint64_t b : ca.freelist(Reserve::none)) free_buckets[d].insert(b);
        for (std::uint64_t b : ca.freelist(Reserve::movinggc)) free_buckets[d].insert(b);
    }

    std::uint64_t prev_file = 0, prev_end = 0;
    auto cursor = index.scan_extents();
    for (; cursor->valid(); cursor->next()) {
        auto key = cursor->key();
        auto value = cursor->value();
        if (!key || !value) {
            problem(r, "an index entry does not decode");
            continue;
        }
        const ExtentKey& k = key.value();
        const ExtentValue& v = value.value();
        ++r.extents;
        const std::uint64_t start = k.end - v.length;
        if (k.file == prev_file && start < prev_end)
            problem(r, fmt::format("file {}: extent [{}, {}) overlaps the one ending at {}", k.file, start, k.end,
                                   prev_end));
        prev_file = k.file;
        prev_end = k.end;
        // Every copy counts in its own bucket; the extent is stale when no
        // copy is live.
        const auto sectors = static_cast<std::uint32_t>(v.length / kSectorSize);
        bool live_copy = false;
        bool missing = false;
        for (unsigned i = 0; i < v.nptrs(); ++i) {
            const ExtentPtr p = v.ptr(i);
            if (p.device >= ndev || p.bucket < alloc.device(p.device).geometry().first_bucket ||
                p.bucket >= alloc.device(p.device).geometry().nbuckets) {
                problem(r, fmt::format("file {}: extent ending at {} points at device {} bucket {}, which does not "
                                       "exist",
                                       k.file, k.end, p.device, p.bucket));
                missing = true;
                continue;
            }
            const BucketInfo info = alloc.device(p.device).bucket(p.bucket);
            if (info.gen != p.gen) continue;
            live_copy = true;
            live[p.device][p.bucket] += sectors;
            if (free_buckets[p.device].count(p.bucket))
                problem(r, fmt::format("file {}: live extent ending at {} is in device {} bucket {}, which is on a "
                                       "freelist",
                                       k.file, k.end, p.device, p.bucket));
        }
        if (missing) continue;
        if (!live_copy) {
            ++r.stale_extents;
            continue;
        }
        r.live_sectors += sectors;
    }
    BCL_TRY(cursor->status());

    for (unsigned d = 0; d < ndev; ++d) {
        const CacheAllocator& ca = alloc.device(d);
        const Geometry& g = ca.geometry();
        for (std::uint64_t b = g.first_bucket; b < g.nbuckets; ++b) {
            const BucketInfo info = ca.bucket(b);
            const std::uint32_t want = std::min<std::uint32_t>(live[d][b], g.bucket_sectors);
            if (info.pin == 0 && info.sectors_used != want)
                problem(r, fmt::format("device {} bucket {}: {} sectors used, the index holds {} live", d, b,
                                       info.sectors_used, want));
            if (info.pin != 0 && info.sectors_used < want)
                problem(r, fmt::format("device {} bucket {} (pinned): {} sectors used, fewer than the {} live", d, b,
                                       info.sectors_used, want));
            if (want != 0 && info.mark == GcMark::unused)
                problem(r, fmt::format("device {} bucket {} holds {} live sectors but is marked unused", d, b, want));
            // Only a bucket that nothing can write to may still serve the
            // data of its previous gen.
            if (info.read_gen != info.gen && !free_buckets[d].count(b))
                problem(r, fmt::format("device {} bucket {} serves reads of gen {} but has gen {} and is on no "
                                       "freelist: it can be written while the old data is read",
                                       d, b, info.read_gen, info.gen));
        }
    }
    return r;
}

}  // namespace bcl
