#include "bcachefs_lite/cache/consistency.h"

#include <fmt/format.h>

#include <unordered_set>

namespace bcl {

namespace {

void problem(ConsistencyReport& r, std::string line) {
    ++r.problem_count;
    if (r.problems.size() < ConsistencyReport::kMaxProblems) r.problems.push_back(std::move(line));
}

// Per device: the live sectors the index puts in each bucket, and the
// buckets on free_inc and the freelists.
struct BucketTally {
    std::vector<std::vector<std::uint32_t>> live;
    std::vector<std::unordered_set<std::uint64_t>> free;

    explicit BucketTally(const AllocSet& alloc) : live(alloc.ndevices()), free(alloc.ndevices()) {
        for (unsigned d = 0; d < alloc.ndevices(); ++d) {
            const CacheAllocator& ca = alloc.device(d);
            live[d].assign(ca.geometry().nbuckets, 0);
            for (std::uint64_t b : ca.free_inc()) free[d].insert(b);
            for (std::uint64_t b : ca.freelist(Reserve::none)) free[d].insert(b);
            for (std::uint64_t b : ca.freelist(Reserve::movinggc)) free[d].insert(b);
        }
    }
};

// One extent: every copy counts in its own bucket; the extent is stale
// when no copy is live.
void check_extent(ConsistencyReport& r, BucketTally& tally, const AllocSet& alloc, const ExtentKey& k,
                  const ExtentValue& v) {
    const auto sectors = static_cast<std::uint32_t>(v.length / kSectorSize);
    bool live_copy = false;
    bool missing = false;
    for (unsigned i = 0; i < v.nptrs(); ++i) {
        const ExtentPtr p = v.ptr(i);
        if (p.device >= alloc.ndevices() || p.bucket < alloc.device(p.device).geometry().first_bucket ||
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
        tally.live[p.device][p.bucket] += sectors;
        if (tally.free[p.device].count(p.bucket))
            problem(r, fmt::format("file {}: live extent ending at {} is in device {} bucket {}, which is on a "
                                   "freelist",
                                   k.file, k.end, p.device, p.bucket));
    }
    if (missing) return;
    if (!live_copy) {
        ++r.stale_extents;
        return;
    }
    r.live_sectors += sectors;
}

// Each bucket's accounting against what the index holds in it.
void check_buckets(ConsistencyReport& r, const BucketTally& tally, const AllocSet& alloc) {
    for (unsigned d = 0; d < alloc.ndevices(); ++d) {
        const CacheAllocator& ca = alloc.device(d);
        const Geometry& g = ca.geometry();
        for (std::uint64_t b = g.first_bucket; b < g.nbuckets; ++b) {
            const BucketInfo info = ca.bucket(b);
            const std::uint32_t want = std::min<std::uint32_t>(tally.live[d][b], g.bucket_sectors);
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
            if (info.read_gen != info.gen && !tally.free[d].count(b))
                problem(r, fmt::format("device {} bucket {} serves reads of gen {} but has gen {} and is on no "
                                       "freelist: it can be written while the old data is read",
                                       d, b, info.read_gen, info.gen));
        }
    }
}

}  // namespace

Result<ConsistencyReport> check_consistency(const Index& index, const AllocSet& alloc) {
    ConsistencyReport r;
    BucketTally tally(alloc);
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
        check_extent(r, tally, alloc, k, v);
    }
    BCL_TRY(cursor->status());
    check_buckets(r, tally, alloc);
    return r;
}

}  // namespace bcl
