// Extents: overlap cases one by one, lookup, drop, batches, conditional
// operations, scans and concurrent inserts.
#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "test_index.h"

namespace bcl {
namespace {

using test::open_test_index;
using test::TempDir;

constexpr std::uint64_t K = 1024;

ExtentValue at_sector(std::uint64_t length, std::uint64_t sector, std::uint32_t crc = 0xc0ffee) {
    return make_extent_value(length, 1, sector / 1024, 4, sector, crc, false);
}

class IndexExtents : public ::testing::Test {
protected:
    void SetUp() override {
        index_ = open_test_index(tmp_.path());
        ASSERT_TRUE(index_);
    }
    std::vector<Extent> all(std::uint64_t file) {
        auto r = index_->lookup(file, 0, UINT64_MAX);
        EXPECT_TRUE(r) << r.error().message;
        return r ? r.value() : std::vector<Extent>{};
    }
    std::vector<ExtentOverwrite> insert(std::uint64_t file, std::uint64_t offset, const ExtentValue& v) {
        auto r = index_->insert_extent(file, offset, v);
        EXPECT_TRUE(r) << r.error().message;
        return r ? r.value() : std::vector<ExtentOverwrite>{};
    }

    TempDir tmp_;
    std::unique_ptr<Index> index_;
};

TEST_F(IndexExtents, InsertIntoTheMiddleSplitsAndAdvancesTheBackPiece) {
    insert(7, 0, at_sector(16 * K, 1000));
    auto over = insert(7, 4 * K, at_sector(4 * K, 5000));
    auto ext = all(7);
    ASSERT_EQ(ext.size(), 3u);
    EXPECT_EQ(ext[0].start(), 0u);
    EXPECT_EQ(ext[0].end(), 4 * K);
    EXPECT_EQ(ext[0].value.sector, 1000u);
    EXPECT_EQ(ext[0].value.crc_offset, 0u);
    EXPECT_EQ(ext[1].start(), 4 * K);
    EXPECT_EQ(ext[1].value.sector, 5000u);
    EXPECT_EQ(ext[2].start(), 8 * K);
    EXPECT_EQ(ext[2].end(), 16 * K);
    EXPECT_EQ(ext[2].value.sector, 1000u + 16);
    EXPECT_EQ(ext[2].value.crc_offset, 8 * K);
    EXPECT_EQ(ext[2].value.crc_length, 16 * K);
    EXPECT_EQ(ext[2].value.crc_device_offset(), 1000u * 512);
    EXPECT_TRUE(ext[2].value.crc_valid());

    ASSERT_EQ(over.size(), 1u);
    EXPECT_EQ(over[0].before.start(), 0u);
    EXPECT_EQ(over[0].before.end(), 16 * K);
    EXPECT_EQ(over[0].removed.start(), 4 * K);
    EXPECT_EQ(over[0].removed.end(), 8 * K);
    EXPECT_EQ(over[0].removed.value.sector, 1000u + 8);
    EXPECT_EQ(over[0].removed.value.bucket, over[0].before.value.bucket);
}

TEST_F(IndexExtents, FrontTrimAdvancesSectorBackTrimKeepsIt) {
    insert(7, 8 * K, at_sector(16 * K, 200));           // [8K, 24K)
    auto front = insert(7, 0, at_sector(12 * K, 900));  // covers [8K, 12K) of it
    auto ext = all(7);
    ASSERT_EQ(ext.size(), 2u);
    EXPECT_EQ(ext[1].start(), 12 * K);
    EXPECT_EQ(ext[1].end(), 24 * K);
    EXPECT_EQ(ext[1].value.sector, 200u + 8);
    EXPECT_EQ(ext[1].value.length, 12 * K);
    ASSERT_EQ(front.size(), 1u);
    EXPECT_EQ(front[0].removed.value.length, 4 * K);
    EXPECT_EQ(front[0].removed.value.sector, 200u);

    auto back = insert(7, 20 * K, at_sector(8 * K, 3000));  // [20K, 28K)
    ext = all(7);
    ASSERT_EQ(ext.size(), 3u);
    EXPECT_EQ(ext[1].start(), 12 * K);
    EXPECT_EQ(ext[1].end(), 20 * K);
    EXPECT_EQ(ext[1].value.sector, 208u);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0].removed.start(), 20 * K);
    EXPECT_EQ(back[0].removed.value.sector, 208u + 16);
}

TEST_F(IndexExtents, CoveringInsertDropsEverythingInsideAndReportsIt) {
    insert(7, 0, at_sector(4 * K, 10));
    insert(7, 4 * K, at_sector(4 * K, 20));
    insert(7, 12 * K, at_sector(4 * K, 30));
    insert(7, 16 * K, at_sector(4 * K, 40));  // adjacent, untouched
    auto over = insert(7, 0, at_sector(16 * K, 50));
    ASSERT_EQ(over.size(), 3u);
    for (const auto& o : over) EXPECT_EQ(o.before, o.removed);
    auto ext = all(7);
    ASSERT_EQ(ext.size(), 2u);
    EXPECT_EQ(ext[0].value.sector, 50u);
    EXPECT_EQ(ext[1].value.sector, 40u);
}

TEST_F(IndexExtents, SameRangeReplacesAndAdjacentInsertTouchesNothing) {
    insert(7, 4 * K, at_sector(4 * K, 10));
    auto over = insert(7, 4 * K, at_sector(4 * K, 11));
    ASSERT_EQ(over.size(), 1u);
    EXPECT_EQ(over[0].before.value.sector, 10u);
    EXPECT_TRUE(insert(7, 0, at_sector(4 * K, 12)).empty());
    EXPECT_TRUE(insert(7, 8 * K, at_sector(4 * K, 13)).empty());
    auto ext = all(7);
    ASSERT_EQ(ext.size(), 3u);
    EXPECT_EQ(ext[1].value.sector, 11u);
}

// An extent whose bytes run past 2^64 is refused: once an overlapping
// write trimmed it, it would leave a piece that does not decode, and every
// read of the file would fail.
TEST_F(IndexExtents, AnExtentPastTheLastDeviceByteIsRefused) {
    auto past_end = index_->insert_extent(7, 0, at_sector(8 * K, UINT64_MAX / kSectorSize));
    ASSERT_FALSE(past_end);
    EXPECT_EQ(past_end.error().code, Errc::invalid);
    insert(7, 0, at_sector(8 * K, UINT64_MAX / kSectorSize - 16));
    insert(7, 0, at_sector(4 * K, 10));
    auto ext = all(7);
    ASSERT_EQ(ext.size(), 2u);
    EXPECT_EQ(ext[1].value.sector, UINT64_MAX / kSectorSize - 8);
}

TEST_F(IndexExtents, InvalidInsertsAreRefusedAndChangeNothing) {
    insert(7, 0, at_sector(4 * K, 10));
    auto unaligned = index_->insert_extent(7, 100, at_sector(4 * K, 1));
    ASSERT_FALSE(unaligned);
    EXPECT_EQ(unaligned.error().code, Errc::invalid);
    auto no_file = index_->insert_extent(0, 0, at_sector(4 * K, 1));
    ASSERT_FALSE(no_file);
    EXPECT_EQ(no_file.error().code, Errc::invalid);
    auto empty = index_->insert_extent(7, 0, at_sector(0, 1));
    ASSERT_FALSE(empty);
    auto overflow = index_->insert_extent(7, UINT64_MAX - 511, at_sector(4 * K, 1));
    ASSERT_FALSE(overflow);
    auto bad_range = index_->remove_range(7, 8 * K, 4 * K);
    ASSERT_FALSE(bad_range);
    auto ext = all(7);
    ASSERT_EQ(ext.size(), 1u);
    EXPECT_EQ(ext[0].value.sector, 10u);
}

TEST_F(IndexExtents, LookupReturnsExactlyTheOverlappingExtentsInOrder) {
    // [0,4K) [8K,12K) [12K,20K) [32K,36K)
    insert(3, 0, at_sector(4 * K, 1));
    insert(3, 8 * K, at_sector(4 * K, 2));
    insert(3, 12 * K, at_sector(8 * K, 3));
    insert(3, 32 * K, at_sector(4 * K, 4));
    insert(2, 0, at_sector(64 * K, 5));  // other files around it
    insert(4, 0, at_sector(64 * K, 6));
    auto sectors = [&](std::uint64_t s, std::uint64_t e) {
        std::vector<std::uint64_t> out;
        auto r = index_->lookup(3, s, e);
        EXPECT_TRUE(r);
        for (const auto& x : r.value()) out.push_back(x.value.sector);
        return out;
    };
    using V = std::vector<std::uint64_t>;
    EXPECT_EQ(sectors(0, 64 * K), (V{1, 2, 3, 4}));
    EXPECT_EQ(sectors(4 * K, 8 * K), V{});  // the gap
    EXPECT_EQ(sectors(3 * K, 9 * K), (V{1, 2}));
    EXPECT_EQ(sectors(12 * K, 20 * K), V{3});  // exactly one extent
    EXPECT_EQ(sectors(11 * K, 13 * K), (V{2, 3}));
    EXPECT_EQ(sectors(20 * K, 32 * K), V{});
    EXPECT_EQ(sectors(36 * K, 1 << 30), V{});
    EXPECT_EQ(sectors(35 * K, 1 << 30), V{4});
    EXPECT_EQ(sectors(5 * K, 5 * K), V{});  // empty range
}

TEST_F(IndexExtents, RemoveRangeTrimsSplitsAndRunsToEndOfFile) {
    insert(7, 0, at_sector(16 * K, 100));
    insert(7, 16 * K, at_sector(16 * K, 200));
    auto over = index_->remove_range(7, 4 * K, 8 * K);
    ASSERT_TRUE(over);
    ASSERT_EQ(over.value().size(), 1u);
    auto ext = all(7);
    ASSERT_EQ(ext.size(), 3u);
    EXPECT_EQ(ext[1].start(), 8 * K);
    EXPECT_EQ(ext[1].value.sector, 116u);
    // Truncate to 20K: everything from there on goes.
    over = index_->remove_range(7, 20 * K, UINT64_MAX);
    ASSERT_TRUE(over);
    ext = all(7);
    ASSERT_EQ(ext.size(), 3u);
    EXPECT_EQ(ext[2].start(), 16 * K);
    EXPECT_EQ(ext[2].end(), 20 * K);
    EXPECT_EQ(ext[2].value.sector, 200u);
}

TEST_F(IndexExtents, DropFileExtentsLeavesOtherFilesIntact) {
    for (std::uint64_t f : {6, 7, 8})
        for (std::uint64_t i = 0; i < 20; ++i) insert(f, i * 8 * K, at_sector(4 * K, f * 100 + i));
    ASSERT_TRUE(index_->drop_file_extents(7));
    EXPECT_TRUE(all(7).empty());
    EXPECT_EQ(all(6).size(), 20u);
    EXPECT_EQ(all(8).size(), 20u);
    EXPECT_EQ(all(6).back().value.sector, 619u);
    EXPECT_EQ(all(8).front().value.sector, 800u);
    // The file can be filled again afterwards.
    insert(7, 0, at_sector(4 * K, 1));
    EXPECT_EQ(all(7).size(), 1u);
}

TEST_F(IndexExtents, BatchOperationsSeeEachOther) {
    insert(7, 0, at_sector(16 * K, 100));
    IndexBatch batch;
    batch.insert_extent(7, 4 * K, at_sector(8 * K, 500));  // splits [0,16K)
    batch.insert_extent(7, 8 * K, at_sector(8 * K, 600));  // trims the new one and the back piece
    FileRecord rec;
    rec.file_id = 7;
    rec.size = 16 * K;
    batch.put_file(FileIdentity{1, 2, 3}, rec);
    auto r = index_->commit(batch, true);
    ASSERT_TRUE(r) << r.error().message;
    auto ext = all(7);
    ASSERT_EQ(ext.size(), 3u);
    EXPECT_EQ(ext[0].end(), 4 * K);
    EXPECT_EQ(ext[1].start(), 4 * K);
    EXPECT_EQ(ext[1].end(), 8 * K);
    EXPECT_EQ(ext[1].value.sector, 500u);
    EXPECT_EQ(ext[2].start(), 8 * K);
    EXPECT_EQ(ext[2].end(), 16 * K);
    EXPECT_EQ(ext[2].value.sector, 600u);
    // First op: one overwrite of the old extent; second: the old back piece
    // and the first op's extent.
    EXPECT_EQ(r.value().overwrites.size(), 3u);
    auto f = index_->get_file(FileIdentity{1, 2, 3});
    ASSERT_TRUE(f);
    ASSERT_TRUE(f.value());
    EXPECT_EQ(f.value()->file_id, 7u);
}

TEST_F(IndexExtents, DropThenInsertInOneBatchKeepsOnlyTheNew) {
    insert(7, 0, at_sector(16 * K, 100));
    insert(7, 32 * K, at_sector(16 * K, 200));
    IndexBatch batch;
    batch.drop_file_extents(7);
    batch.insert_extent(7, 4 * K, at_sector(4 * K, 300));
    auto r = index_->commit(batch, false);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r.value().overwrites.empty());
    auto ext = all(7);
    ASSERT_EQ(ext.size(), 1u);
    EXPECT_EQ(ext[0].value.sector, 300u);
}

TEST_F(IndexExtents, FailedBatchWritesNothing) {
    IndexBatch batch;
    batch.insert_extent(7, 0, at_sector(4 * K, 1));
    batch.put_counter("x", 1);
    batch.insert_extent(7, 100, at_sector(4 * K, 2));  // unaligned: fails all
    auto r = index_->commit(batch, false);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::invalid);
    EXPECT_EQ(batch.size(), 3u);
    EXPECT_TRUE(all(7).empty());
    EXPECT_EQ(index_->get_counter("x").value(), 0u);
}

TEST_F(IndexExtents, ConditionalDeleteAndReplaceActOnlyOnUnchangedExtents) {
    insert(7, 0, at_sector(4 * K, 10));
    insert(7, 4 * K, at_sector(4 * K, 20));
    ExtentValue dirty = at_sector(4 * K, 30);
    dirty.flags |= kExtentDirty;
    insert(7, 8 * K, dirty);
    const auto before = all(7);

    // A newer write replaced [4K, 8K) after GC saw it.
    insert(7, 4 * K, at_sector(4 * K, 21));

    IndexBatch batch;
    batch.delete_extent_if_unchanged(before[0].key, before[0].value);  // still there
    batch.delete_extent_if_unchanged(before[1].key, before[1].value);  // replaced
    ExtentValue clean = dirty;
    clean.flags &= static_cast<std::uint8_t>(~kExtentDirty);
    batch.replace_extent_if_unchanged(before[2].key, before[2].value, clean);
    batch.delete_extent_if_unchanged(ExtentKey{7, 64 * K}, before[0].value);  // never was
    auto r = index_->commit(batch, true);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r.value().skipped.size(), 2u);
    EXPECT_EQ(r.value().skipped[0], before[1].key);
    EXPECT_EQ(r.value().skipped[1], (ExtentKey{7, 64 * K}));

    auto ext = all(7);
    ASSERT_EQ(ext.size(), 2u);
    EXPECT_EQ(ext[0].value.sector, 21u);
    EXPECT_EQ(ext[1].value.sector, 30u);
    EXPECT_FALSE(ext[1].value.dirty());

    IndexBatch wrong;
    ExtentValue longer = clean;
    longer.length = 8 * K;
    longer.crc_length = 8 * K;
    wrong.replace_extent_if_unchanged(ext[1].key, ext[1].value, longer);
    auto w = index_->commit(wrong, false);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code, Errc::invalid);
}

TEST_F(IndexExtents, ScanVisitsEveryExtentOnceInKeyOrderAndResumes) {
    std::vector<ExtentKey> want;
    for (std::uint64_t f = 1; f <= 30; ++f)
        for (std::uint64_t i = 0; i < 40; ++i) {
            insert(f, i * 4 * K, at_sector(4 * K, f * 1000 + i));
            want.push_back(ExtentKey{f, (i + 1) * 4 * K});
        }
    std::vector<ExtentKey> seen;
    ASSERT_TRUE(index_->for_each_extent([&](const Extent& e) {
        seen.push_back(e.key);
        EXPECT_EQ(e.value.sector, e.key.file * 1000 + e.start() / (4 * K));
        return true;
    }));
    EXPECT_EQ(seen, want);

    // In bounded steps of 100, each from the key after the last one seen.
    std::vector<ExtentKey> stepped;
    ExtentKey from{};
    for (bool more = true; more;) {
        auto cursor = index_->scan_extents(from);
        int n = 0;
        for (; cursor->valid() && n < 100; cursor->next(), ++n) {
            auto k = cursor->key();
            ASSERT_TRUE(k);
            ASSERT_TRUE(cursor->value());
            stepped.push_back(k.value());
            from = ExtentKey{k.value().file, k.value().end + 1};
        }
        more = cursor->valid();
        ASSERT_TRUE(cursor->status());
    }
    EXPECT_EQ(stepped, want);

    int visited = 0;
    ASSERT_TRUE(index_->for_each_extent([&](const Extent&) { return ++visited < 5; }));
    EXPECT_EQ(visited, 5);
}

TEST_F(IndexExtents, EraseRawExtentRemovesAnEntryByItsStoredKey) {
    insert(7, 0, at_sector(4 * K, 10));
    auto cursor = index_->scan_extents();
    ASSERT_TRUE(cursor->valid());
    IndexBatch batch;
    batch.erase_raw_extent(cursor->raw_key());
    cursor.reset();
    ASSERT_TRUE(index_->commit(batch, false));
    EXPECT_TRUE(all(7).empty());
}

TEST_F(IndexExtents, ConcurrentInsertsIntoOneFileNeverLeaveOverlaps) {
    constexpr int kThreads = 4;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([this, t] {
            std::mt19937_64 rng(1000 + t);
            for (int i = 0; i < 300; ++i) {
                const std::uint64_t off = (rng() % 64) * 4 * K;
                const std::uint64_t len = (1 + rng() % 8) * 4 * K;
                auto r = index_->insert_extent(9, off, at_sector(len, (t + 1) * 100000 + i * 100));
                if (!r) ADD_FAILURE() << r.error().message;
            }
        });
    for (auto& t : threads) t.join();
    auto ext = all(9);
    ASSERT_FALSE(ext.empty());
    for (std::size_t i = 1; i < ext.size(); ++i) EXPECT_LE(ext[i - 1].end(), ext[i].start()) << "overlap at " << i;
}

}  // namespace
}  // namespace bcl
