// Dirty-file records, the dirty_files family (also added to a version-1
// index), and the before_durable hook.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <string>

#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/index/index_format.h"
#include "common/temp_dir.h"
#include "raw_db.h"

namespace bcl {
namespace {

using test::TempDir;

constexpr Uuid kUuid{0xd1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

IndexOptions create_options() {
    IndexOptions o;
    o.create_if_missing = true;
    o.cache_uuid = kUuid;
    return o;
}

DirtyFileRecord sample(std::uint64_t ino) {
    return DirtyFileRecord{2049, ino, 1'700'000'000'123'456'789, 1, std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8)};
}

TEST(DirtyFileRecord, RoundTripsAndEveryBitFlipIsCaught) {
    const DirtyFileRecord r = sample(42);
    auto bytes = encode_dirty_file_record(r);
    ASSERT_TRUE(bytes);
    ASSERT_EQ(bytes.value().size(), kDirtyFileRecordSize);
    auto back = decode_dirty_file_record(bytes.value());
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value(), r);
    for (std::size_t bit = 0; bit < bytes.value().size() * 8; ++bit) {
        std::string flipped = bytes.value();
        flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
        EXPECT_FALSE(decode_dirty_file_record(flipped)) << "bit " << bit;
    }
    EXPECT_FALSE(decode_dirty_file_record(bytes.value().substr(1)));
    auto key = decode_dirty_file_key(encode_dirty_file_key(0x0102030405060708ull));
    ASSERT_TRUE(key);
    EXPECT_EQ(key.value(), 0x0102030405060708ull);
    EXPECT_FALSE(decode_dirty_file_key("short"));
}

TEST(DirtyFileRecord, AHandleTooLongOrEmptyIsRefused) {
    DirtyFileRecord r = sample(1);
    r.handle.assign(kMaxFileHandleBytes + 1, 'h');
    EXPECT_EQ(encode_dirty_file_record(r).error().code, Errc::invalid);
    r.handle.clear();
    auto bytes = encode_dirty_file_record(r);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(decode_dirty_file_record(bytes.value()).error().code, Errc::corrupt);
}

TEST(DirtyFiles, BatchesPutAndDeleteAndTheyAreWalkedInIdOrder) {
    TempDir tmp;
    auto idx = Index::open(tmp.path(), create_options());
    ASSERT_TRUE(idx) << idx.error().message;
    Index& index = *idx.value();
    IndexBatch batch;
    for (std::uint64_t id : {300u, 7u, 40u}) batch.put_dirty_file(id, sample(id));
    ASSERT_TRUE(index.commit(batch, false));
    std::vector<std::uint64_t> seen;
    for (std::uint64_t from = 0;;) {
        auto next = index.next_dirty_file(from);
        ASSERT_TRUE(next);
        if (!next.value()) break;
        seen.push_back(next.value()->first);
        EXPECT_EQ(next.value()->second, sample(next.value()->first));
        from = next.value()->first + 1;
    }
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{7, 40, 300}));
    batch.delete_dirty_file(40);
    ASSERT_TRUE(index.commit(batch, false));
    EXPECT_FALSE(index.get_dirty_file(40).value());
    ASSERT_TRUE(index.get_dirty_file(300).value());
    EXPECT_EQ(index.next_dirty_file(8).value()->first, 300u);
}

// Turns a new index into what version 1 left: no dirty_files family.
void make_version_one(const std::string& dir) {
    test::for_each_raw_family(dir, [](rocksdb::DB& db, const std::string& name, rocksdb::ColumnFamilyHandle* h) {
        if (name == kDirtyFilesColumnFamily) {
            EXPECT_TRUE(db.DropColumnFamily(h).ok());
        }
        if (name == kMetaColumnFamily) {
            EXPECT_TRUE(db.Put(rocksdb::WriteOptions(), h, std::string(kMetaVersionKey), encode_meta_u64(1)).ok());
        }
    });
}

TEST(DirtyFiles, AVersionOneIndexGetsTheFamilyAndVersionTwo) {
    TempDir tmp;
    {
        auto idx = Index::open(tmp.path(), create_options());
        ASSERT_TRUE(idx);
        ASSERT_TRUE(idx.value()->insert_extent(5, 0, make_extent_value(4096, 0, 1, 2, 64, 9, false)));
    }
    make_version_one(tmp.path());
    IndexOptions o;
    o.cache_uuid = kUuid;
    {
        auto idx = Index::open(tmp.path(), o);
        ASSERT_TRUE(idx) << idx.error().message;
        EXPECT_EQ(idx.value()->lookup(5, 0, 4096).value().size(), 1u);
        IndexBatch batch;
        batch.put_dirty_file(5, sample(5));
        ASSERT_TRUE(idx.value()->commit(batch, true));
    }
    auto idx = Index::open(tmp.path(), o);
    ASSERT_TRUE(idx) << idx.error().message;
    EXPECT_TRUE(idx.value()->get_dirty_file(5).value());
}

TEST(DirtyFiles, AReadOnlyOpenSeesThemAndChangesNothing) {
    TempDir tmp;
    IndexOptions ro;
    ro.read_only = true;
    EXPECT_EQ(Index::open(tmp.file("none"), ro).error().code, Errc::not_found);
    EXPECT_FALSE(std::filesystem::exists(tmp.file("none")));
    {
        auto idx = Index::open(tmp.path(), create_options());
        ASSERT_TRUE(idx);
        IndexBatch batch;
        batch.put_dirty_file(9, sample(9));
        ASSERT_TRUE(idx.value()->commit(batch, true));
    }
    auto idx = Index::open(tmp.path(), ro);
    ASSERT_TRUE(idx) << idx.error().message;
    EXPECT_EQ(idx.value()->next_dirty_file(0).value()->first, 9u);
    EXPECT_FALSE(idx.value()->put_counter("x", 1, true));
}

TEST(BeforeDurable, RunsBeforeEverySyncedWriteAndItsErrorFailsTheWrite) {
    TempDir tmp;
    int calls = 0;
    bool fail = false;
    IndexOptions o = create_options();
    o.before_durable = [&]() -> Status {
        ++calls;
        if (fail) return make_error(Errc::io, "device flush failed");
        return ok();
    };
    auto idx = Index::open(tmp.path(), o);
    ASSERT_TRUE(idx) << idx.error().message;
    Index& index = *idx.value();
    const int at_open = calls;
    EXPECT_GT(at_open, 0);  // creating the index is a synced write

    ASSERT_TRUE(index.put_counter("unsynced", 1, false));
    EXPECT_EQ(calls, at_open);
    ASSERT_TRUE(index.put_counter("synced", 2, true));
    EXPECT_EQ(calls, at_open + 1);
    ASSERT_TRUE(index.sync());
    EXPECT_EQ(calls, at_open + 2);

    fail = true;
    EXPECT_FALSE(index.put_counter("refused", 3, true));
    EXPECT_EQ(index.get_counter("refused").value(), 0u);
    EXPECT_FALSE(index.sync());
}

}  // namespace
}  // namespace bcl
