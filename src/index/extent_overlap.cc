#include "extent_overlap.h"

#include <algorithm>

namespace bcl::index_detail {

namespace {

// The part [from, to) (file offsets, inside e) of extent e.
Extent piece_of(const Extent& e, std::uint64_t from, std::uint64_t to) {
    return Extent{ExtentKey{e.key.file, to}, slice_extent_value(e.value, from - e.start(), to - from)};
}

}  // namespace

OverlapPlan plan_clear_range(std::span<const Extent> overlapping, std::uint64_t start, std::uint64_t end) {
    OverlapPlan plan;
    for (const Extent& e : overlapping) {
        const std::uint64_t s = e.start();
        const std::uint64_t cut_from = std::max(s, start);
        const std::uint64_t cut_to = std::min(e.end(), end);
        plan.overwrites.push_back(ExtentOverwrite{e, piece_of(e, cut_from, cut_to)});

        const bool keeps_front = s < start;     // [s, start) stays
        const bool keeps_back = e.end() > end;  // [end, e.end()) stays
        // The back piece keeps e's key; without one, e's key goes.
        if (keeps_back)
            plan.puts.push_back(piece_of(e, end, e.end()));
        else
            plan.deletes.push_back(e.key);
        if (keeps_front) plan.puts.push_back(piece_of(e, s, start));
    }
    return plan;
}

}  // namespace bcl::index_detail
