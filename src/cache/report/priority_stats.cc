#include "bcachefs_lite/cache/priority_stats.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "gc/bucket_count.h"

namespace bcl {

namespace {

std::uint32_t age_of(std::uint16_t prio) { return prio >= kInitialPrio ? 0u : kInitialPrio - prio; }

std::uint64_t percent(std::uint64_t part, std::uint64_t whole) { return whole == 0 ? 0 : part * 100 / whole; }

}  // namespace

Result<PriorityStats> priority_stats(const AllocSet& alloc, std::optional<unsigned> only_device) {
    if (!gc_marks_valid(alloc)) return make_error(Errc::again, "a GC pass is counting the buckets");
    PriorityStats s;
    std::vector<std::uint16_t> live_prios;
    std::uint64_t bucket_sectors = 0;
    for (unsigned d = 0; d < alloc.ndevices(); ++d) {
        if (only_device && d != *only_device) continue;
        const CacheAllocator& ca = alloc.device(d);
        const Geometry& g = ca.geometry();
        bucket_sectors = g.bucket_sectors;
        s.buckets += g.nbuckets - g.first_bucket;
        for (std::uint64_t b = g.first_bucket; b < g.nbuckets; ++b) {
            const BucketInfo info = ca.bucket(b);
            switch (info.mark) {
            case GcMark::unused: ++s.unused; continue;
            case GcMark::reclaimable: ++s.clean; break;
            case GcMark::dirty: ++s.dirty; break;
            case GcMark::pinned: ++s.pinned; break;
            }
            live_prios.push_back(info.prio);
        }
    }
    // A pass that started meanwhile may have cleared marks under the walk.
    if (!gc_marks_valid(alloc)) return make_error(Errc::again, "a GC pass is counting the buckets");
    const std::size_t n = live_prios.size();
    if (n == 0) return s;
    std::sort(live_prios.begin(), live_prios.end(), std::greater<>());  // youngest first
    std::uint64_t sum = 0;
    for (const std::uint16_t p : live_prios) sum += age_of(p);
    s.average_age = sum / n;
    s.sectors_per_quantile = n * bucket_sectors / (PriorityStats::kQuantiles + 1);
    for (std::size_t i = 0; i < PriorityStats::kQuantiles; ++i)
        s.quantiles[i] = age_of(live_prios[n * (i + 1) / (PriorityStats::kQuantiles + 1)]);
    return s;
}

std::string format_priority_stats(const PriorityStats& s) {
    return fmt::format(
        "Unused:         {}%\n"
        "Clean:          {}%\n"
        "Dirty:          {}%\n"
        "Pinned:         {}%\n"
        "Average:        {}\n"
        "Sectors per Q:  {}\n"
        "Quantiles:      [{}]\n",
        percent(s.unused, s.buckets), percent(s.clean, s.buckets), percent(s.dirty, s.buckets),
        percent(s.pinned, s.buckets), s.average_age, s.sectors_per_quantile, fmt::join(s.quantiles, " "));
}

}  // namespace bcl
