// Index::split_extents: cut points for walking the extents in parallel.
#include <rocksdb/db.h>
#include <rocksdb/metadata.h>

#include <algorithm>

#include "bcachefs_lite/index/index.h"
#include "index_db.h"

namespace bcl {

namespace {

struct TableSpan {
    ExtentKey smallest;
    ExtentKey largest;
    std::uint64_t bytes = 0;
};

std::uint64_t between(std::uint64_t lo, std::uint64_t hi, double frac) {
    return lo + static_cast<std::uint64_t>(static_cast<double>(hi - lo) * frac);
}

// The key `frac` of the way through a table, taking its extents as spread
// evenly over its files (or, within one file, over its offsets).
ExtentKey interpolate(const TableSpan& t, double frac) {
    if (t.smallest.file != t.largest.file) return ExtentKey{between(t.smallest.file, t.largest.file, frac), 0};
    return ExtentKey{t.smallest.file, between(t.smallest.end, t.largest.end, frac)};
}

std::vector<TableSpan> table_spans(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
    rocksdb::ColumnFamilyMetaData meta;
    db.GetColumnFamilyMetaData(cf, &meta);
    std::vector<TableSpan> spans;
    for (const auto& level : meta.levels)
        for (const auto& f : level.files) {
            auto lo = decode_extent_key(f.smallestkey);
            auto hi = decode_extent_key(f.largestkey);
            if (!lo || !hi || hi.value() < lo.value() || f.size == 0) continue;  // fsck's business
            spans.push_back(TableSpan{lo.value(), hi.value(), f.size});
        }
    std::sort(spans.begin(), spans.end(),
              [](const TableSpan& a, const TableSpan& b) { return a.smallest < b.smallest; });
    return spans;
}

}  // namespace

std::vector<ExtentKey> Index::split_extents(unsigned n) const {
    std::vector<ExtentKey> cuts;
    if (n < 2) return cuts;
    const std::vector<TableSpan> spans = table_spans(*db_->db, db_->extents);
    std::uint64_t total = 0;
    for (const TableSpan& t : spans) total += t.bytes;
    if (total == 0) return cuts;
    // Walks the tables in key order; cut k falls where k/n of the bytes lie
    // before it. Overlapping tables (level 0) make it an estimate.
    std::uint64_t before = 0;
    unsigned k = 1;
    for (const TableSpan& t : spans) {
        while (k < n) {
            const double want = static_cast<double>(total) * k / n;
            if (want >= static_cast<double>(before + t.bytes)) break;
            const double frac = std::max(0.0, (want - static_cast<double>(before)) / static_cast<double>(t.bytes));
            const ExtentKey cut = interpolate(t, frac);
            if ((cuts.empty() && cut > ExtentKey{}) || (!cuts.empty() && cut > cuts.back())) cuts.push_back(cut);
            ++k;
        }
        before += t.bytes;
    }
    return cuts;
}

}  // namespace bcl
