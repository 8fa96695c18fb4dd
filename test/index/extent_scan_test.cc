// Walks for GC (extent_scan.h): a snapshot that cursors share, a bounded
// range, and the cut points that split the extents for several threads.
#include <gtest/gtest.h>

#include <vector>

#include "bcachefs_lite/index/index.h"
#include "common/temp_dir.h"
#include "test_index.h"

namespace bcl {
namespace {

ExtentValue value_at(std::uint64_t bucket) {
    return make_extent_value(kSectorSize, 0, bucket, 1, bucket * 8, 0, false);
}

std::vector<ExtentKey> keys(const Index& index, const ExtentKey& from, const ExtentScanOptions& o) {
    std::vector<ExtentKey> out;
    auto cursor = index.scan_extents(from, o);
    for (; cursor->valid(); cursor->next()) {
        auto key = cursor->key();
        EXPECT_TRUE(key);
        if (key) out.push_back(key.value());
    }
    EXPECT_TRUE(cursor->status());
    return out;
}

TEST(ExtentScanTest, ACursorOnASnapshotSeesTheIndexAsItWasThen) {
    test::TempDir dir;
    auto index = test::open_test_index(dir.path());
    ASSERT_TRUE(index);
    ASSERT_TRUE(index->insert_extent(1, 0, value_at(3)));
    ASSERT_TRUE(index->insert_extent(2, 0, value_at(4)));
    const auto snap = index->take_snapshot();
    ASSERT_TRUE(index->insert_extent(3, 0, value_at(5)));
    ASSERT_TRUE(index->drop_file_extents(1));

    ExtentScanOptions then;
    then.snapshot = snap.get();
    EXPECT_EQ(keys(*index, {}, then), (std::vector<ExtentKey>{{1, kSectorSize}, {2, kSectorSize}}));
    EXPECT_EQ(keys(*index, {}, {}), (std::vector<ExtentKey>{{2, kSectorSize}, {3, kSectorSize}}));
}

TEST(ExtentScanTest, ABoundedCursorStopsBeforeItsEnd) {
    test::TempDir dir;
    auto index = test::open_test_index(dir.path());
    ASSERT_TRUE(index);
    for (std::uint64_t f = 1; f <= 3; ++f)
        for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(index->insert_extent(f, 2 * i * kSectorSize, value_at(f)));
    ExtentScanOptions o;
    o.end = ExtentKey{2, 3 * kSectorSize};  // between two extents of file 2
    o.readahead_bytes = 1 << 16;
    EXPECT_EQ(keys(*index, {1, 6 * kSectorSize}, o), (std::vector<ExtentKey>{{1, 7 * kSectorSize}, {2, kSectorSize}}));
    o.end = ExtentKey{2, kSectorSize};  // an extent's own key is not in the range
    EXPECT_EQ(keys(*index, {2, 0}, o), std::vector<ExtentKey>{});
}

TEST(ExtentScanTest, SplitCutsTheTableFilesIntoEvenRanges) {
    test::TempDir dir;
    constexpr std::uint64_t kFiles = 400, kPerFile = 50;
    {
        IndexOptions o;
        o.create_if_missing = true;
        o.cache_uuid = test::kTestUuid;
        o.write_buffer_bytes = 64u << 10;
        auto index = Index::open(dir.path(), o);
        ASSERT_TRUE(index) << index.error().message;
        EXPECT_EQ(index.value()->split_extents(4), std::vector<ExtentKey>{}) << "no table file yet";
        IndexBatch batch;
        for (std::uint64_t f = 1; f <= kFiles; ++f)
            for (std::uint64_t i = 0; i < kPerFile; ++i) batch.insert_extent(f, 2 * i * kSectorSize, value_at(f));
        ASSERT_TRUE(index.value()->commit(batch, true));
    }
    auto index = test::open_test_index(dir.path());  // the log is replayed into a table file
    ASSERT_TRUE(index);
    EXPECT_EQ(index->split_extents(0), std::vector<ExtentKey>{});
    EXPECT_EQ(index->split_extents(1), std::vector<ExtentKey>{});
    const std::vector<ExtentKey> cuts = index->split_extents(4);
    ASSERT_EQ(cuts.size(), 3u);
    ExtentKey from{};
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        ExtentScanOptions o;
        if (i < cuts.size()) o.end = cuts[i];
        const std::size_t n = keys(*index, from, o).size();
        EXPECT_GT(n, kFiles * kPerFile / 8) << "range " << i;
        EXPECT_LT(n, kFiles * kPerFile / 2) << "range " << i;
        if (i < cuts.size()) {
            EXPECT_LT(from, cuts[i]);
            from = cuts[i];
        }
    }
}

}  // namespace
}  // namespace bcl
