// Pinned-file records: the pinned_files family, walked in (dev, ino)
// order, and added to an index made before it existed.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <string>

#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/index/index_format.h"
#include "common/temp_dir.h"
#include "raw_db.h"

namespace bcl {
namespace {

using test::TempDir;

constexpr Uuid kPinUuid{0xe2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

IndexOptions create_pin_index_options() {
    IndexOptions o;
    o.create_if_missing = true;
    o.cache_uuid = kPinUuid;
    return o;
}

DirtyFileRecord pinned_sample(std::uint64_t dev, std::uint64_t ino) {
    return DirtyFileRecord{dev, ino, 1'700'000'000'000'000'001, 1, std::string("\x0a\x0b\x0c\x0d", 4)};
}

TEST(PinnedFiles, AreWalkedInDevInoOrderAndDeletedByKey) {
    TempDir tmp;
    auto idx = Index::open(tmp.path(), create_pin_index_options());
    ASSERT_TRUE(idx) << idx.error().message;
    Index& index = *idx.value();
    EXPECT_FALSE(index.next_pinned_file(0, 0).value());
    IndexBatch batch;
    batch.put_pinned_file(pinned_sample(7, 300));
    batch.put_pinned_file(pinned_sample(7, 2));
    batch.put_pinned_file(pinned_sample(9, 1));
    ASSERT_TRUE(index.commit(batch, true));

    auto first = index.next_pinned_file(0, 0);
    ASSERT_TRUE(first && first.value());
    ASSERT_TRUE(first.value()->record);
    EXPECT_EQ(*first.value()->record, pinned_sample(7, 2));
    EXPECT_EQ(index.next_pinned_file(7, 3).value()->ino, 300u);
    EXPECT_EQ(index.next_pinned_file(7, 301).value()->dev, 9u);
    EXPECT_FALSE(index.next_pinned_file(9, 2).value());

    batch.delete_pinned_file(7, 300);
    ASSERT_TRUE(index.commit(batch, false));
    EXPECT_EQ(index.next_pinned_file(7, 3).value()->dev, 9u);
}

TEST(PinnedFiles, AnEntryThatDoesNotDecodeIsReportedWithItsKey) {
    TempDir tmp;
    {
        auto idx = Index::open(tmp.path(), create_pin_index_options());
        ASSERT_TRUE(idx);
    }
    test::for_each_raw_family(tmp.path(), [](rocksdb::DB& db, const std::string& name, rocksdb::ColumnFamilyHandle* h) {
        if (name == kPinnedFilesColumnFamily) {
            EXPECT_TRUE(db.Put(rocksdb::WriteOptions(), h, encode_file_key(5, 6), "garbage").ok());
        }
    });
    auto idx = Index::open(tmp.path(), IndexOptions{});
    ASSERT_TRUE(idx) << idx.error().message;
    auto entry = idx.value()->next_pinned_file(0, 0);
    ASSERT_TRUE(entry && entry.value());
    EXPECT_EQ(entry.value()->dev, 5u);
    EXPECT_EQ(entry.value()->ino, 6u);
    EXPECT_FALSE(entry.value()->record);
    EXPECT_NE(entry.value()->problem.find("checksum"), std::string::npos) << entry.value()->problem;
    IndexBatch batch;
    batch.delete_pinned_file(5, 6);
    ASSERT_TRUE(idx.value()->commit(batch, false));
    EXPECT_FALSE(idx.value()->next_pinned_file(0, 0).value());
}

TEST(PinnedFiles, AnIndexWithoutTheFamilyGetsItAtOpen) {
    TempDir tmp;
    {
        auto idx = Index::open(tmp.path(), create_pin_index_options());
        ASSERT_TRUE(idx);
        ASSERT_TRUE(idx.value()->put_counter("kept", 5, true));
    }
    test::for_each_raw_family(tmp.path(), [](rocksdb::DB& db, const std::string& name, rocksdb::ColumnFamilyHandle* h) {
        if (name == kPinnedFilesColumnFamily) {
            EXPECT_TRUE(db.DropColumnFamily(h).ok());
        }
    });
    IndexOptions ro;
    ro.read_only = true;
    {
        auto idx = Index::open(tmp.path(), ro);
        ASSERT_TRUE(idx) << idx.error().message;
        EXPECT_FALSE(idx.value()->next_pinned_file(0, 0).value()) << "read as it is: no records";
    }
    IndexOptions o;
    o.cache_uuid = kPinUuid;
    auto idx = Index::open(tmp.path(), o);
    ASSERT_TRUE(idx) << idx.error().message;
    EXPECT_EQ(idx.value()->get_counter("kept").value(), 5u);
    IndexBatch batch;
    batch.put_pinned_file(pinned_sample(3, 4));
    ASSERT_TRUE(idx.value()->commit(batch, true));
    EXPECT_EQ(idx.value()->next_pinned_file(0, 0).value()->ino, 4u);
}

}  // namespace
}  // namespace bcl
