// Name records: their format, a rename as one batch, and the names family
// added to an index made before it existed.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <string>

#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/index/name_format.h"
#include "common/temp_dir.h"
#include "raw_db.h"
#include "test_index.h"

namespace bcl {
namespace {

using test::TempDir;

TEST(NameRecords, RoundTripAndRejectDamage) {
    const NameRecord r{0x0102030405060708ull, 0100000};
    const std::string bytes = encode_name_record(r);
    ASSERT_EQ(bytes.size(), kNameRecordSize);
    EXPECT_EQ(decode_name_record(bytes).value(), r);
    std::string flipped = bytes;
    flipped[3] ^= 1;
    EXPECT_EQ(decode_name_record(flipped).error().code, Errc::corrupt);
    EXPECT_EQ(decode_name_record(bytes.substr(1)).error().code, Errc::corrupt);
    EXPECT_EQ(decode_name_record(encode_name_record(NameRecord{0, 0040000})).error().code, Errc::corrupt);
}

TEST(NameRecords, KeysOfOneDirectoryAreAdjacent) {
    EXPECT_LT(encode_name_key(1, "zzz"), encode_name_key(2, "a"));
    EXPECT_LT(encode_name_key(2, "a"), encode_name_key(2, "b"));
    EXPECT_EQ(encode_name_key(0, "x").size(), 9u);
}

TEST(NameRecords, ARenameMovesTheRecordInOneBatch) {
    TempDir tmp;
    auto index = test::open_test_index(tmp.path());
    ASSERT_TRUE(index);
    EXPECT_FALSE(index->get_name(kRootNameId, "f").value());
    IndexBatch batch;
    batch.put_name(kRootNameId, "f", NameRecord{7, 0100000});
    ASSERT_TRUE(index->commit(batch, false));
    EXPECT_EQ(index->get_name(kRootNameId, "f").value()->id, 7u);

    batch.delete_name(kRootNameId, "f");
    batch.put_name(9, "g", NameRecord{7, 0100000});
    ASSERT_TRUE(index->commit(batch, false));
    EXPECT_FALSE(index->get_name(kRootNameId, "f").value());
    EXPECT_EQ(index->get_name(9, "g").value()->id, 7u);

    batch.put_name(9, "", NameRecord{8, 0100000});
    EXPECT_EQ(index->commit(batch, false).error().code, Errc::invalid) << "a name is never empty";
}

TEST(NameRecords, AnIndexWithoutTheFamilyGetsItAtOpen) {
    TempDir tmp;
    {
        auto index = test::open_test_index(tmp.path());
        ASSERT_TRUE(index);
    }
    test::for_each_raw_family(tmp.path(), [](rocksdb::DB& db, const std::string& name, rocksdb::ColumnFamilyHandle* h) {
        if (name == kNamesColumnFamily) {
            EXPECT_TRUE(db.DropColumnFamily(h).ok());
        }
    });
    IndexOptions ro;
    ro.read_only = true;
    {
        auto idx = Index::open(tmp.path(), ro);
        ASSERT_TRUE(idx) << idx.error().message;
        EXPECT_FALSE(idx.value()->get_name(kRootNameId, "f").value()) << "read as it is: no records";
    }
    auto index = test::open_test_index(tmp.path());
    ASSERT_TRUE(index);
    IndexBatch batch;
    batch.put_name(kRootNameId, "f", NameRecord{3, 0100000});
    ASSERT_TRUE(index->commit(batch, true));
    EXPECT_EQ(index->get_name(kRootNameId, "f").value()->id, 3u);
}

}  // namespace
}  // namespace bcl
