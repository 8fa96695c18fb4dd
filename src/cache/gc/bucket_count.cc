#include "gc/bucket_count.h"

#include <algorithm>

namespace bcl {

bool gc_marks_valid(const AllocSet& alloc) {
    for (unsigned d = 0; d < alloc.ndevices(); ++d)
        if (!alloc.device(d).gc_mark_valid()) return false;
    return true;
}

std::optional<BucketCount> count_buckets(const AllocSet& alloc) {
    if (!gc_marks_valid(alloc)) return std::nullopt;
    BucketCount count;
    for (unsigned d = 0; d < alloc.ndevices(); ++d) {
        const CacheAllocator& ca = alloc.device(d);
        const Geometry& g = ca.geometry();
        count.total += g.nbuckets - g.first_bucket;
        for (std::uint64_t b = g.first_bucket; b < g.nbuckets; ++b) {
            const BucketInfo info = ca.bucket(b);
            if (info.pin == 0 && info.mark == GcMark::unused) ++count.free;
        }
        count.free += ca.free_inc().size();
        count.free += ca.freelist(Reserve::none).size() + ca.freelist(Reserve::movinggc).size();
    }
    // A pass that started meanwhile may have cleared marks under the walk.
    if (!gc_marks_valid(alloc)) return std::nullopt;
    // Buckets move between free_inc and the freelists while they are read.
    count.free = std::min(count.free, count.total);
    return count;
}

}  // namespace bcl
