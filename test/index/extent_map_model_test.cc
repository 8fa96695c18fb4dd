// Property test of the in-memory extent map: the same random batches
// (inserts, removals, drops, conditional replaces and deletes, raw erases)
// go to an index with the map, with bounds small enough to evict and to
// refuse files, and to one without it; every lookup and every commit result
// must be the same, and a failed commit must leave the map right.
#include <gtest/gtest.h>

#include <ostream>
#include <random>
#include <vector>

#include "common/temp_dir.h"
#include "extent_map_support.h"

namespace bcl {
namespace {

using test::open_with_map;
using test::TempDir;

constexpr std::uint64_t kMapUnit = 4096;
constexpr std::uint64_t kMapFiles = 12;
constexpr std::uint64_t kMapUnitsPerFile = 64;

struct MapParams {
    std::uint64_t seed;
    std::size_t map_extents;
};

void PrintTo(const MapParams& p, std::ostream* os) { *os << "seed " << p.seed << ", map " << p.map_extents; }

class ExtentMapModel : public ::testing::TestWithParam<MapParams> {
protected:
    void SetUp() override {
        with_ = open_with_map(with_dir_.path(), GetParam().map_extents, [this]() -> Status {
            if (fail_) return make_error(Errc::io, "injected flush failure");
            return ok();
        });
        without_ = open_with_map(without_dir_.path(), 0);
        ASSERT_TRUE(with_ && without_);
    }

    // A random batch of one to three extent operations on one or two files.
    IndexBatch random_batch() {
        IndexBatch batch;
        const int ops = 1 + static_cast<int>(rng_() % 3);
        for (int i = 0; i < ops; ++i) {
            const std::uint64_t file = 1 + rng_() % kMapFiles;
            const std::uint64_t start = (rng_() % kMapUnitsPerFile) * kMapUnit;
            const std::uint64_t len = (1 + rng_() % 8) * kMapUnit;
            const auto kind = rng_() % 100;
            if (kind < 55) {
                batch.insert_extent(file, start, test::map_test_extent(len, next_sector_, tag_++));
                next_sector_ += len / kSectorSize + 8;
            } else if (kind < 75) {
                batch.remove_range(file, start, start + len);
            } else if (kind < 80) {
                batch.drop_file_extents(file);
            } else {
                stage_on_existing(batch, file, kind);
            }
        }
        return batch;
    }

    // A conditional replace or delete, or a raw erase, of an extent of
    // `file` as it is now (sometimes with a stale expectation).
    void stage_on_existing(IndexBatch& batch, std::uint64_t file, std::uint64_t kind) {
        auto now = without_->lookup(file, 0, UINT64_MAX);
        ASSERT_TRUE(now);
        if (now.value().empty()) return;
        const Extent e = now.value()[rng_() % now.value().size()];
        ExtentValue expected = e.value;
        if (rng_() % 4 == 0) expected.data_crc ^= 1;  // stale: skipped
        if (kind < 88) {
            ExtentValue clean = e.value;
            clean.flags ^= kExtentDirty;
            batch.replace_extent_if_unchanged(e.key, expected, clean);
        } else if (kind < 96) {
            batch.delete_extent_if_unchanged(e.key, expected);
        } else {
            batch.erase_raw_extent(encode_extent_key(e.key));
        }
    }

    // Both indexes answer a random range and whole-file lookup alike.
    void expect_same_lookups(int step) {
        const std::uint64_t file = 1 + rng_() % kMapFiles;
        const std::uint64_t start = (rng_() % kMapUnitsPerFile) * kMapUnit + (rng_() % 2) * kSectorSize;
        const std::uint64_t end = start + (1 + rng_() % 16) * kMapUnit;
        for (auto [s, e] : {std::pair{start, end}, std::pair{std::uint64_t{0}, UINT64_MAX}}) {
            auto a = with_->lookup(file, s, e);
            auto b = without_->lookup(file, s, e);
            ASSERT_TRUE(a && b);
            ASSERT_EQ(a.value(), b.value()) << "step " << step << " file " << file << " [" << s << ", " << e << ")";
        }
    }

    TempDir with_dir_, without_dir_;
    std::unique_ptr<Index> with_, without_;
    bool fail_ = false;
    std::mt19937_64 rng_{GetParam().seed};
    std::uint64_t next_sector_ = 64;
    std::uint32_t tag_ = 0;
};

TEST_P(ExtentMapModel, AnswersAsTheIndexWithoutIt) {
    int failed = 0;
    for (int step = 0; step < 3000; ++step) {
        // The same operations for both: the generator replayed.
        const auto state = rng_;
        const auto sector = next_sector_;
        const auto tag = tag_;
        IndexBatch a = random_batch();
        rng_ = state;
        next_sector_ = sector;
        tag_ = tag;
        IndexBatch b = random_batch();
        // Now and then a synced commit whose flush fails: nothing changes
        // (unless it had nothing to write, and so succeeded).
        const bool inject = rng_() % 20 == 0;
        fail_ = inject;
        auto ra = with_->commit(a, inject);
        fail_ = false;
        if (!ra) {
            ASSERT_TRUE(inject) << ra.error().message;
            ++failed;
        } else {
            auto rb = without_->commit(b, false);
            ASSERT_TRUE(rb) << rb.error().message;
            EXPECT_EQ(ra.value().overwrites, rb.value().overwrites) << "step " << step;
            EXPECT_EQ(ra.value().skipped, rb.value().skipped) << "step " << step;
        }
        for (int i = 0; i < 3; ++i) expect_same_lookups(step);
        if (::testing::Test::HasFatalFailure()) return;
    }
    EXPECT_GT(failed, 0);
    const ExtentMapStats stats = with_->extent_map_stats();
    EXPECT_GT(stats.hits, 0u);
    EXPECT_LE(stats.extents + stats.files, GetParam().map_extents);
    if (GetParam().map_extents < 1000) {
        EXPECT_GT(stats.evictions, 0u);
    }
    RecordProperty("hits", std::to_string(stats.hits));
    RecordProperty("misses", std::to_string(stats.misses));
    RecordProperty("evictions", std::to_string(stats.evictions));
}

INSTANTIATE_TEST_SUITE_P(Bounds, ExtentMapModel,
                         // 24: files of more than 3 extents are too large
                         // and most lookups evict; 100 and 120: some files
                         // too large, some evictions; 1M: every file fits.
                         ::testing::Values(MapParams{1, 24}, MapParams{2, 100}, MapParams{3, 1u << 20},
                                           MapParams{4, 120}),
                         [](const auto& info) {
                             return "seed" + std::to_string(info.param.seed) + "_map" +
                                    std::to_string(info.param.map_extents);
                         });

}  // namespace
}  // namespace bcl
