// Property test: random inserts, removals and drops against a plain model
// that remembers, for every sector of every file, which insert put it there
// and where on the device it lives. After every operation the index must
// hold exactly the model's runs, with the right device sectors and crc
// windows, and report exactly what it took away.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <ostream>
#include <random>
#include <tuple>
#include <vector>

#include "common/temp_dir.h"
#include "test_index.h"

namespace bcl {
namespace {

using test::open_test_index;
using test::TempDir;

// One indexed sector of the model.
struct SectorInfo {
    std::uint32_t insert_id;      // which insert put it there
    std::uint64_t device_sector;  // where its byte lives
    bool operator==(const SectorInfo&) const = default;
};

struct InsertInfo {
    std::uint64_t first_device_sector;
    std::uint64_t length;
};

class Model {
public:
    // file -> (file sector -> info)
    std::map<std::uint64_t, std::map<std::uint64_t, SectorInfo>> files;
    std::vector<InsertInfo> inserts;  // by insert id

    // Sectors removed from [s, e) (file sectors), as {file sector, info}.
    std::vector<std::pair<std::uint64_t, SectorInfo>> clear(std::uint64_t file, std::uint64_t s, std::uint64_t e) {
        std::vector<std::pair<std::uint64_t, SectorInfo>> removed;
        auto& m = files[file];
        for (auto it = m.lower_bound(s); it != m.end() && it->first < e;) {
            removed.emplace_back(*it);
            it = m.erase(it);
        }
        return removed;
    }
};

struct Params {
    std::uint64_t seed;
    std::uint64_t unit;  // the caller's block size, in bytes
};

void PrintTo(const Params& p, std::ostream* os) { *os << "seed " << p.seed << ", unit " << p.unit; }

class ExtentModel : public ::testing::TestWithParam<Params> {};

// The index's extents of `file`, expanded per sector, checked against the
// model; also checks that extents are exactly the model's maximal runs.
void expect_matches(Index& index, const Model& model, std::uint64_t file) {
    auto got = index.lookup(file, 0, UINT64_MAX);
    ASSERT_TRUE(got) << got.error().message;
    std::map<std::uint64_t, SectorInfo> expanded;
    std::uint64_t runs = 0;
    for (const Extent& e : got.value()) {
        ASSERT_EQ(e.key.file, file);
        const auto id = e.value.data_crc;
        ASSERT_LT(id, model.inserts.size());
        const InsertInfo& ins = model.inserts[id];
        EXPECT_EQ(e.value.crc_device_offset(), ins.first_device_sector * kSectorSize);
        EXPECT_EQ(e.value.crc_length, ins.length);
        EXPECT_EQ(e.value.bucket, id);
        for (std::uint64_t i = 0; i < e.value.length / kSectorSize; ++i)
            expanded[e.start() / kSectorSize + i] = SectorInfo{id, e.value.sector + i};
    }
    auto it = model.files.find(file);
    const std::map<std::uint64_t, SectorInfo> empty;
    const auto& want = it == model.files.end() ? empty : it->second;
    ASSERT_EQ(expanded, want);
    // Maximal runs of consecutive sectors from one insert = extents.
    std::uint64_t prev_sector = 0;
    std::uint32_t prev_id = 0;
    bool first = true;
    for (const auto& [sector, info] : want) {
        if (first || sector != prev_sector + 1 || info.insert_id != prev_id) ++runs;
        first = false;
        prev_sector = sector;
        prev_id = info.insert_id;
    }
    EXPECT_EQ(got.value().size(), runs);
}

// What the index reported as removed, expanded per sector.
std::vector<std::pair<std::uint64_t, SectorInfo>> expand_removed(const std::vector<ExtentOverwrite>& over) {
    std::vector<std::pair<std::uint64_t, SectorInfo>> out;
    for (const auto& o : over) {
        EXPECT_EQ(o.removed.value.bucket, o.before.value.bucket);
        EXPECT_EQ(o.removed.value.gen, o.before.value.gen);
        EXPECT_GE(o.removed.start(), o.before.start());
        EXPECT_LE(o.removed.end(), o.before.end());
        for (std::uint64_t i = 0; i < o.removed.value.length / kSectorSize; ++i)
            out.emplace_back(o.removed.start() / kSectorSize + i,
                             SectorInfo{o.removed.value.data_crc, o.removed.value.sector + i});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
}

TEST_P(ExtentModel, RandomOperationsMatchTheModel) {
    const Params p = GetParam();
    TempDir tmp;
    auto index = open_test_index(tmp.path());
    ASSERT_TRUE(index);
    std::mt19937_64 rng(p.seed);
    Model model;
    const std::uint64_t spu = p.unit / kSectorSize;  // sectors per unit
    constexpr std::uint64_t kFiles = 3;
    constexpr std::uint64_t kUnitsPerFile = 96;
    std::uint64_t next_device_sector = 8;

    for (int op = 0; op < 2500; ++op) {
        const std::uint64_t file = 1 + rng() % kFiles;
        const auto kind = rng() % 100;
        std::uint64_t s = (rng() % kUnitsPerFile) * spu;
        std::uint64_t len = (1 + rng() % 24) * spu;
        if (kind < 65) {
            const auto id = static_cast<std::uint32_t>(model.inserts.size());
            model.inserts.push_back({next_device_sector, len * kSectorSize});
            ExtentValue v = make_extent_value(len * kSectorSize, 0, id, 1, next_device_sector, id, rng() % 2 == 0);
            auto want_removed = model.clear(file, s, s + len);
            for (std::uint64_t i = 0; i < len; ++i) model.files[file][s + i] = SectorInfo{id, next_device_sector + i};
            next_device_sector += len + (rng() % 3) * spu;
            auto r = index->insert_extent(file, s * kSectorSize, v, rng() % 16 == 0);
            ASSERT_TRUE(r) << r.error().message;
            ASSERT_EQ(expand_removed(r.value()), want_removed) << "op " << op;
        } else if (kind < 90) {
            auto want_removed = model.clear(file, s, s + len);
            auto r = index->remove_range(file, s * kSectorSize, (s + len) * kSectorSize);
            ASSERT_TRUE(r) << r.error().message;
            ASSERT_EQ(expand_removed(r.value()), want_removed) << "op " << op;
        } else if (kind < 93) {
            model.files.erase(file);
            ASSERT_TRUE(index->drop_file_extents(file));
        } else {
            // A random range lookup agrees with the model's sectors there.
            auto r = index->lookup(file, s * kSectorSize, (s + len) * kSectorSize);
            ASSERT_TRUE(r);
            std::uint64_t covered = 0;
            std::uint64_t prev_end = 0;
            for (const Extent& e : r.value()) {
                EXPECT_LT(e.start(), (s + len) * kSectorSize);
                EXPECT_GT(e.end(), s * kSectorSize);
                EXPECT_GE(e.start(), prev_end);
                prev_end = e.end();
                for (std::uint64_t x = e.start() / kSectorSize; x < e.end() / kSectorSize; ++x)
                    if (x >= s && x < s + len) ++covered;
            }
            const auto& m = model.files[file];
            const auto want = static_cast<std::uint64_t>(std::distance(m.lower_bound(s), m.lower_bound(s + len)));
            EXPECT_EQ(covered, want) << "op " << op;
        }
        expect_matches(*index, model, file);
        if (::testing::Test::HasFatalFailure()) return;
    }
    // Reopen: the same state, every extent visited once by a scan.
    index.reset();
    index = open_test_index(tmp.path());
    ASSERT_TRUE(index);
    std::uint64_t scanned = 0;
    ASSERT_TRUE(index->for_each_extent([&](const Extent&) { return ++scanned, true; }));
    std::uint64_t total = 0;
    for (std::uint64_t f = 1; f <= kFiles; ++f) {
        expect_matches(*index, model, f);
        auto r = index->lookup(f, 0, UINT64_MAX);
        ASSERT_TRUE(r);
        total += r.value().size();
    }
    EXPECT_EQ(scanned, total);
}

// Every placement of up to two extents and of one new range in a span of
// six units, each case in a file of its own: insert over them, and remove
// the range from a copy of them.
TEST(ExtentOverlapCases, EveryPlacementMatchesTheModel) {
    TempDir tmp;
    auto index = open_test_index(tmp.path());
    ASSERT_TRUE(index);
    constexpr std::uint64_t kUnit = 8;  // sectors: 4 KiB
    constexpr std::uint64_t kSpan = 6;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (std::uint64_t a = 0; a < kSpan; ++a)
        for (std::uint64_t b = a + 1; b <= kSpan; ++b) ranges.emplace_back(a, b);
    std::vector<std::vector<std::pair<std::uint64_t, std::uint64_t>>> layouts{{}};
    for (const auto& r : ranges) {
        layouts.push_back({r});
        for (const auto& q : ranges)
            if (r.second <= q.first) layouts.push_back({r, q});
    }
    Model model;
    std::uint64_t file = 0;
    std::uint64_t device_sector = 8;
    auto put = [&](std::uint64_t f, std::uint64_t a, std::uint64_t b, bool check_removed) {
        const auto id = static_cast<std::uint32_t>(model.inserts.size());
        const std::uint64_t len = (b - a) * kUnit;
        model.inserts.push_back({device_sector, len * kSectorSize});
        auto want_removed = model.clear(f, a * kUnit, b * kUnit);
        for (std::uint64_t i = 0; i < len; ++i) model.files[f][a * kUnit + i] = SectorInfo{id, device_sector + i};
        auto r = index->insert_extent(f, a * kUnit * kSectorSize,
                                      make_extent_value(len * kSectorSize, 0, id, 1, device_sector, id, false));
        device_sector += len + kUnit;
        ASSERT_TRUE(r) << r.error().message;
        if (check_removed) {
            EXPECT_EQ(expand_removed(r.value()), want_removed) << "file " << f << " insert [" << a << ", " << b << ")";
        }
    };
    for (const auto& layout : layouts) {
        for (const auto& [x, y] : ranges) {
            const std::uint64_t ins_file = ++file;
            const std::uint64_t rm_file = ++file;
            for (const auto& [a, b] : layout) {
                put(ins_file, a, b, false);
                put(rm_file, a, b, false);
            }
            put(ins_file, x, y, true);
            auto want_removed = model.clear(rm_file, x * kUnit, y * kUnit);
            auto r = index->remove_range(rm_file, x * kUnit * kSectorSize, y * kUnit * kSectorSize);
            ASSERT_TRUE(r) << r.error().message;
            EXPECT_EQ(expand_removed(r.value()), want_removed);
            expect_matches(*index, model, ins_file);
            expect_matches(*index, model, rm_file);
            if (::testing::Test::HasFailure()) return;
        }
    }
    EXPECT_GT(file, 2000u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ExtentModel,
                         ::testing::Values(Params{1, 512}, Params{2, 512}, Params{3, 4096}, Params{4, 4096},
                                           Params{5, 1536}),
                         [](const auto& info) {
                             return "seed" + std::to_string(info.param.seed) + "_unit" +
                                    std::to_string(info.param.unit);
                         });

}  // namespace
}  // namespace bcl
