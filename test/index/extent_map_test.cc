// The in-memory extent map of the index: a file loads at its second miss,
// hits read no RocksDB, the bound evicts least recently used files, files
// too large are not kept, and lookups from many threads racing commits end
// as RocksDB holds it.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "extent_map_support.h"

namespace bcl {
namespace {

using test::map_test_extent;
using test::open_with_map;
using test::stored_extents;
using test::TempDir;

constexpr std::uint64_t kKiB = 1024;

// Gives `file` n extents of 4 KiB, one every other block.
void fill_file(Index& index, std::uint64_t file, std::uint64_t n) {
    IndexBatch batch;
    for (std::uint64_t i = 0; i < n; ++i)
        batch.insert_extent(file, 8 * kKiB * i, map_test_extent(4 * kKiB, 64 + 16 * i));
    auto r = index.commit(batch, false);
    ASSERT_TRUE(r) << r.error().message;
}

std::vector<Extent> lookup_all(const Index& index, std::uint64_t file) {
    auto r = index.lookup(file, 0, UINT64_MAX);
    EXPECT_TRUE(r) << r.error().message;
    return r ? r.value() : std::vector<Extent>();
}

// Looks `file` up twice: a file is loaded at its second miss.
std::vector<Extent> load(const Index& index, std::uint64_t file) {
    lookup_all(index, file);
    return lookup_all(index, file);
}

TEST(ExtentMap, AFileIsLoadedAtItsSecondMissAndThenHit) {
    TempDir tmp;
    auto index = open_with_map(tmp.path(), 1000);
    ASSERT_TRUE(index);
    fill_file(*index, 5, 4);
    for (int i = 0; i < 2; ++i) {  // a miss; a miss that loads the file
        auto r = index->lookup(5, 8 * kKiB, 24 * kKiB);
        ASSERT_TRUE(r);
        ASSERT_EQ(r.value().size(), 2u);
        EXPECT_EQ(r.value()[0].start(), 8 * kKiB);
        EXPECT_EQ(r.value()[1].start(), 16 * kKiB);
        EXPECT_EQ(index->extent_map_stats().extents, i == 0 ? 0u : 4u);
    }
    auto r = index->lookup(5, 12 * kKiB, 17 * kKiB);  // hit: ends in a hole, starts in one
    ASSERT_TRUE(r);
    ASSERT_EQ(r.value().size(), 1u);
    EXPECT_EQ(r.value()[0].start(), 16 * kKiB);
    EXPECT_TRUE(index->lookup(5, 40 * kKiB, 48 * kKiB).value().empty());
    const ExtentMapStats s = index->extent_map_stats();
    EXPECT_EQ(s.max_extents, 1000u);
    EXPECT_EQ(s.misses, 2u);
    EXPECT_EQ(s.hits, 2u);
    EXPECT_EQ(s.files, 1u);
    EXPECT_EQ(s.extents, 4u);
}

TEST(ExtentMap, CommitsUpdateACachedFileInPlace) {
    TempDir tmp;
    auto index = open_with_map(tmp.path(), 1000);
    ASSERT_TRUE(index);
    fill_file(*index, 5, 4);
    ASSERT_EQ(load(*index, 5).size(), 4u);
    for (std::uint64_t i = 0; i < 20; ++i)
        ASSERT_TRUE(index->insert_extent(5, 64 * kKiB + 4 * kKiB * i, map_test_extent(4 * kKiB, 9000 + 8 * i)));
    ASSERT_TRUE(index->remove_range(5, 0, 8 * kKiB));
    EXPECT_EQ(lookup_all(*index, 5), stored_extents(*index, 5));
    ASSERT_TRUE(index->drop_file_extents(5));
    EXPECT_TRUE(lookup_all(*index, 5).empty());
    const ExtentMapStats s = index->extent_map_stats();
    EXPECT_EQ(s.misses, 2u);  // loaded once, never again
    EXPECT_EQ(s.files, 1u);
}

TEST(ExtentMap, TheBoundEvictsTheLeastRecentlyUsedFiles) {
    TempDir tmp;
    // Each file: 2 extents, charged 3; six fit in 20.
    auto index = open_with_map(tmp.path(), 20);
    ASSERT_TRUE(index);
    for (std::uint64_t f = 1; f <= 12; ++f) fill_file(*index, f, 2);
    for (std::uint64_t f = 1; f <= 12; ++f) {
        ASSERT_EQ(load(*index, f).size(), 2u);
        ASSERT_EQ(lookup_all(*index, 1).size(), 2u);  // file 1 stays in use
    }
    const ExtentMapStats s = index->extent_map_stats();
    EXPECT_LE(s.extents + s.files, 20u);
    EXPECT_EQ(s.evictions, 12u - 6u);
    EXPECT_EQ(s.files, 6u);
    // File 1, used all along, and 8 to 12, the last loaded, are kept.
    const std::uint64_t misses = s.misses;
    for (std::uint64_t f : {1, 8, 9, 10, 11, 12}) ASSERT_EQ(lookup_all(*index, f).size(), 2u);
    EXPECT_EQ(index->extent_map_stats().misses, misses);
    ASSERT_EQ(lookup_all(*index, 2).size(), 2u);
    EXPECT_EQ(index->extent_map_stats().misses, misses + 1);
    EXPECT_EQ(index->extent_map_stats().evictions, 12u - 6u + 1);  // missed before: loaded again
}

TEST(ExtentMap, AFileTooLargeIsReadFromRocksDb) {
    TempDir tmp;
    auto index = open_with_map(tmp.path(), 80);  // files of up to 10 extents
    ASSERT_TRUE(index);
    fill_file(*index, 3, 11);
    for (int i = 0; i < 2; ++i) {
        auto r = index->lookup(3, 80 * kKiB, 84 * kKiB);
        ASSERT_TRUE(r);
        ASSERT_EQ(r.value().size(), 1u);
        EXPECT_EQ(r.value()[0].start(), 80 * kKiB);
    }
    EXPECT_EQ(lookup_all(*index, 3), stored_extents(*index, 3));
    ExtentMapStats s = index->extent_map_stats();
    EXPECT_EQ(s.too_large, 1u);
    EXPECT_EQ(s.extents, 0u);
    EXPECT_EQ(s.hits, 0u);
    // Emptied, it fits again.
    ASSERT_TRUE(index->drop_file_extents(3));
    fill_file(*index, 3, 2);
    EXPECT_EQ(load(*index, 3).size(), 2u);
    EXPECT_EQ(lookup_all(*index, 3).size(), 2u);
    s = index->extent_map_stats();
    EXPECT_EQ(s.too_large, 0u);
    EXPECT_EQ(s.extents, 2u);
    EXPECT_EQ(s.hits, 2u);  // missed before, it loaded at once
}

TEST(ExtentMap, AFileThatGrowsTooLargeIsLetGo) {
    TempDir tmp;
    auto index = open_with_map(tmp.path(), 80);
    ASSERT_TRUE(index);
    fill_file(*index, 3, 10);
    ASSERT_EQ(load(*index, 3).size(), 10u);
    ASSERT_EQ(index->extent_map_stats().extents, 10u);
    ASSERT_TRUE(index->insert_extent(3, 400 * kKiB, map_test_extent(4 * kKiB, 50000)));
    EXPECT_EQ(index->extent_map_stats().extents, 0u);
    EXPECT_EQ(index->extent_map_stats().too_large, 1u);
    EXPECT_EQ(lookup_all(*index, 3).size(), 11u);
}

TEST(ExtentMap, AFailedCommitLeavesWhatWasCached) {
    TempDir tmp;
    bool fail = false;
    auto index = open_with_map(tmp.path(), 1000, [&]() -> Status {
        if (fail) return make_error(Errc::io, "injected flush failure");
        return ok();
    });
    ASSERT_TRUE(index);
    fill_file(*index, 4, 3);
    const auto before = load(*index, 4);
    ASSERT_EQ(index->extent_map_stats().extents, 3u);
    fail = true;
    IndexBatch batch;
    batch.insert_extent(4, 0, map_test_extent(64 * kKiB, 70000));
    batch.drop_file_extents(4);
    batch.insert_extent(4, 128 * kKiB, map_test_extent(4 * kKiB, 80000));
    EXPECT_FALSE(index->commit(batch, true));
    fail = false;
    EXPECT_EQ(lookup_all(*index, 4), before);
    EXPECT_EQ(stored_extents(*index, 4), before);
    // An invalid operation fails the batch before anything is written.
    IndexBatch bad;
    bad.insert_extent(4, 0, map_test_extent(4 * kKiB, 90000));
    bad.insert_extent(4, 1, map_test_extent(4 * kKiB, 90100));
    EXPECT_FALSE(index->commit(bad, false));
    EXPECT_EQ(lookup_all(*index, 4), before);
}

TEST(ExtentMap, LookupsRacingCommitsEndAsRocksDbHoldsIt) {
    TempDir tmp;
    // Small enough that loads evict while commits update (16 files of up
    // to 32 extents; one of more than 25 is let go).
    auto index = open_with_map(tmp.path(), 200);
    ASSERT_TRUE(index);
    constexpr std::uint64_t kRaceFiles = 16;
    std::atomic<int> writers_left{3};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([&, t] {
            std::mt19937_64 rng(7 + t);
            for (int i = 0; i < 1500; ++i) {
                const std::uint64_t file = 1 + rng() % kRaceFiles;
                const std::uint64_t off = (rng() % 32) * 4 * kKiB;
                IndexBatch batch;
                if (rng() % 4 == 0)
                    batch.remove_range(file, off, off + 12 * kKiB);
                else if (rng() % 50 == 0)
                    batch.drop_file_extents(file);
                else
                    batch.insert_extent(file, off, map_test_extent(4 * kKiB * (1 + rng() % 3), 64 + 64 * i, t));
                if (auto r = index->commit(batch, false); !r) ADD_FAILURE() << r.error().message;
            }
            --writers_left;
        });
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([&, t] {
            std::mt19937_64 rng(100 + t);
            while (writers_left > 0) {
                auto r = index->lookup(1 + rng() % kRaceFiles, (rng() % 32) * 4 * kKiB, 160 * kKiB);
                if (!r) ADD_FAILURE() << r.error().message;
                const auto& got = r.value();
                for (std::size_t i = 1; i < got.size(); ++i)
                    if (got[i - 1].end() > got[i].start()) ADD_FAILURE() << "overlapping extents in a lookup";
            }
        });
    for (auto& t : threads) t.join();
    for (std::uint64_t f = 1; f <= kRaceFiles; ++f)
        EXPECT_EQ(lookup_all(*index, f), stored_extents(*index, f)) << "file " << f;
    const ExtentMapStats s = index->extent_map_stats();
    EXPECT_GT(s.hits, 0u);
    EXPECT_GT(s.evictions, 0u);
}

}  // namespace
}  // namespace bcl
