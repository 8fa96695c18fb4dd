// Opening, creating and refusing index directories; meta values.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <fstream>
#include <string>

#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/index/index_batch.h"
#include "bcachefs_lite/index/index_format.h"
#include "common/temp_dir.h"
#include "raw_db.h"

namespace bcl {
namespace {

using test::TempDir;

constexpr Uuid kUuidA{0xa1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr Uuid kUuidB{0xb2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

IndexOptions create_options(const Uuid& uuid) {
    IndexOptions o;
    o.create_if_missing = true;
    o.cache_uuid = uuid;
    return o;
}

IndexOptions existing_options(const Uuid& uuid) {
    IndexOptions o;
    o.cache_uuid = uuid;
    return o;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc | std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good()) << path;
}

TEST(IndexOpen, CreatesMissingDirectoryAndReopensWithData) {
    TempDir tmp;
    const std::string dir = tmp.file("a/b/index");
    {
        auto idx = Index::open(dir, create_options(kUuidA));
        ASSERT_TRUE(idx) << idx.error().message;
        EXPECT_EQ(idx.value()->cache_uuid(), kUuidA);
        EXPECT_EQ(idx.value()->dir(), dir);
        ASSERT_TRUE(idx.value()->put_counter("hits", 12345));
        ASSERT_TRUE(idx.value()->insert_extent(7, 4096, make_extent_value(8192, 0, 1, 2, 64, 9, false)));
    }
    auto idx = Index::open(dir, existing_options(kUuidA));
    ASSERT_TRUE(idx) << idx.error().message;
    auto hits = idx.value()->get_counter("hits");
    ASSERT_TRUE(hits);
    EXPECT_EQ(hits.value(), 12345u);
    auto found = idx.value()->lookup(7, 0, 1 << 20);
    ASSERT_TRUE(found);
    ASSERT_EQ(found.value().size(), 1u);
    EXPECT_EQ(found.value()[0].start(), 4096u);
    EXPECT_EQ(found.value()[0].value.sector, 64u);
}

TEST(IndexOpen, WithoutUuidOptionAcceptsTheRecordedOne) {
    TempDir tmp;
    ASSERT_TRUE(Index::open(tmp.path(), create_options(kUuidA)));
    auto idx = Index::open(tmp.path(), IndexOptions{});
    ASSERT_TRUE(idx) << idx.error().message;
    EXPECT_EQ(idx.value()->cache_uuid(), kUuidA);
}

TEST(IndexOpen, MissingIndexIsNotFoundWithoutCreate) {
    TempDir tmp;
    auto idx = Index::open(tmp.file("nothing"), existing_options(kUuidA));
    ASSERT_FALSE(idx);
    EXPECT_EQ(idx.error().code, Errc::not_found);
    auto empty = Index::open(tmp.path(), existing_options(kUuidA));
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code, Errc::not_found);
}

TEST(IndexOpen, CreatingNeedsAUuid) {
    TempDir tmp;
    IndexOptions o;
    o.create_if_missing = true;
    auto idx = Index::open(tmp.path(), o);
    ASSERT_FALSE(idx);
    EXPECT_EQ(idx.error().code, Errc::invalid);
}

TEST(IndexOpen, ForeignUuidIsRefusedNamingBoth) {
    TempDir tmp;
    ASSERT_TRUE(Index::open(tmp.path(), create_options(kUuidA)));
    auto idx = Index::open(tmp.path(), existing_options(kUuidB));
    ASSERT_FALSE(idx);
    EXPECT_EQ(idx.error().code, Errc::foreign);
    const std::string& m = idx.error().message;
    EXPECT_NE(m.find(uuid_to_string(kUuidA)), std::string::npos) << m;
    EXPECT_NE(m.find(uuid_to_string(kUuidB)), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos);
    // Also with create_if_missing: an existing index is never re-created.
    auto again = Index::open(tmp.path(), create_options(kUuidB));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, Errc::foreign);
}

TEST(IndexOpen, DirectoryWithOtherFilesIsCorruptAndUntouched) {
    TempDir tmp;
    write_file(tmp.file("notes.txt"), "not an index\n");
    auto idx = Index::open(tmp.path(), create_options(kUuidA));
    ASSERT_FALSE(idx);
    EXPECT_EQ(idx.error().code, Errc::corrupt);
    EXPECT_NE(idx.error().message.find("fsck"), std::string::npos) << idx.error().message;
    EXPECT_FALSE(std::filesystem::exists(tmp.file("CURRENT")));
}

TEST(IndexOpen, GarbageCurrentFileIsCorruptNamingFsck) {
    TempDir tmp;
    ASSERT_TRUE(Index::open(tmp.path(), create_options(kUuidA)));
    write_file(tmp.file("CURRENT"), "garbage that names no manifest\n");
    auto idx = Index::open(tmp.path(), existing_options(kUuidA));
    ASSERT_FALSE(idx);
    EXPECT_EQ(idx.error().code, Errc::corrupt);
    EXPECT_NE(idx.error().message.find("fsck"), std::string::npos) << idx.error().message;
    EXPECT_NE(idx.error().message.find(tmp.path()), std::string::npos) << idx.error().message;
}

TEST(IndexOpen, RocksDbWithoutOurColumnFamiliesIsCorrupt) {
    TempDir tmp;
    {
        rocksdb::Options o;
        o.create_if_missing = true;
        rocksdb::DB* db = nullptr;
        ASSERT_TRUE(rocksdb::DB::Open(o, tmp.path(), &db).ok());
        delete db;
    }
    auto idx = Index::open(tmp.path(), existing_options(kUuidA));
    ASSERT_FALSE(idx);
    EXPECT_EQ(idx.error().code, Errc::corrupt);
    EXPECT_NE(idx.error().message.find("fsck"), std::string::npos);
}

// Rewrites one meta value of a closed index, behind the Index's back.
void poke_meta(const std::string& dir, std::string_view key, const std::string& value) {
    test::for_each_raw_family(dir, [&](rocksdb::DB& db, const std::string& name, rocksdb::ColumnFamilyHandle* h) {
        if (name == kMetaColumnFamily) {
            EXPECT_TRUE(db.Put(rocksdb::WriteOptions(), h, std::string(key), value).ok());
        }
    });
}

TEST(IndexOpen, NewerFormatVersionIsUnsupported) {
    TempDir tmp;
    ASSERT_TRUE(Index::open(tmp.path(), create_options(kUuidA)));
    poke_meta(tmp.path(), kMetaVersionKey, encode_meta_u64(kIndexFormatVersion + 1));
    auto idx = Index::open(tmp.path(), existing_options(kUuidA));
    ASSERT_FALSE(idx);
    EXPECT_EQ(idx.error().code, Errc::unsupported);
}

TEST(IndexOpen, CorruptUuidRecordIsCorrupt) {
    TempDir tmp;
    ASSERT_TRUE(Index::open(tmp.path(), create_options(kUuidA)));
    poke_meta(tmp.path(), kMetaUuidKey, "not a uuid record");
    auto idx = Index::open(tmp.path(), existing_options(kUuidA));
    ASSERT_FALSE(idx);
    EXPECT_EQ(idx.error().code, Errc::corrupt);
    EXPECT_NE(idx.error().message.find("fsck"), std::string::npos);
}

TEST(IndexOpen, SecondOpenOfTheSameDirectoryIsBusy) {
    TempDir tmp;
    auto first = Index::open(tmp.path(), create_options(kUuidA));
    ASSERT_TRUE(first);
    auto second = Index::open(tmp.path(), existing_options(kUuidA));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::busy) << second.error().message;
}

TEST(IndexMeta, CleanFlagStartsFalseAndPersists) {
    TempDir tmp;
    {
        auto idx = Index::open(tmp.path(), create_options(kUuidA));
        ASSERT_TRUE(idx);
        auto clean = idx.value()->clean_shutdown();
        ASSERT_TRUE(clean);
        EXPECT_FALSE(clean.value());
        ASSERT_TRUE(idx.value()->set_clean_shutdown(true));
    }
    auto idx = Index::open(tmp.path(), existing_options(kUuidA));
    ASSERT_TRUE(idx);
    auto clean = idx.value()->clean_shutdown();
    ASSERT_TRUE(clean);
    EXPECT_TRUE(clean.value());
    ASSERT_TRUE(idx.value()->set_clean_shutdown(false));
    clean = idx.value()->clean_shutdown();
    ASSERT_TRUE(clean);
    EXPECT_FALSE(clean.value());
}

TEST(IndexMeta, BeginMountClearsTheCleanFlagAndRecordsTheMount) {
    TempDir tmp;
    const MountRecord mount{1700000123, {"/dev/disk/by-id/nvme-x-part3", "/srv/cache.img"}};
    {
        auto idx = Index::open(tmp.path(), create_options(kUuidA));
        ASSERT_TRUE(idx);
        auto none = idx.value()->last_mount();
        ASSERT_TRUE(none) << none.error().message;
        EXPECT_FALSE(none.value()) << "a new index has no mount record";
        ASSERT_TRUE(idx.value()->set_clean_shutdown(true));
        ASSERT_TRUE(idx.value()->begin_mount(mount));
        EXPECT_FALSE(idx.value()->clean_shutdown().value());
    }
    IndexOptions ro = existing_options(kUuidA);
    ro.read_only = true;
    auto idx = Index::open(tmp.path(), ro);
    ASSERT_TRUE(idx) << idx.error().message;
    auto last = idx.value()->last_mount();
    ASSERT_TRUE(last) << last.error().message;
    ASSERT_TRUE(last.value());
    EXPECT_EQ(*last.value(), mount);
}

TEST(IndexMeta, AnUndecodableMountRecordIsCorruptButTheIndexOpens) {
    TempDir tmp;
    {
        auto idx = Index::open(tmp.path(), create_options(kUuidA));
        ASSERT_TRUE(idx);
    }
    test::for_each_raw_family(tmp.path(), [](rocksdb::DB& db, const std::string& name, rocksdb::ColumnFamilyHandle* h) {
        if (name != kMetaColumnFamily) return;
        ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h, std::string(kMetaLastMountKey), "garbage").ok());
    });
    auto idx = Index::open(tmp.path(), existing_options(kUuidA));
    ASSERT_TRUE(idx) << idx.error().message;
    auto last = idx.value()->last_mount();
    ASSERT_FALSE(last);
    EXPECT_EQ(last.error().code, Errc::corrupt) << last.error().message;
}

TEST(IndexMeta, CountersDefaultToZeroAndAreIndependent) {
    TempDir tmp;
    auto idx = Index::open(tmp.path(), create_options(kUuidA));
    ASSERT_TRUE(idx);
    auto& index = *idx.value();
    auto none = index.get_counter("never");
    ASSERT_TRUE(none);
    EXPECT_EQ(none.value(), 0u);
    ASSERT_TRUE(index.put_counter("a", 1, true));
    ASSERT_TRUE(index.put_counter("b", UINT64_MAX));
    ASSERT_TRUE(index.put_counter("a", 2));
    EXPECT_EQ(index.get_counter("a").value(), 2u);
    EXPECT_EQ(index.get_counter("b").value(), UINT64_MAX);
}

TEST(IndexMeta, SavedStateOutlivesTheIndexAndAnUndecodableOneIsCorrupt) {
    TempDir tmp;
    const std::string bytes = std::string("grants\0with a zero", 19) + std::string(100000, 'g');
    {
        auto idx = Index::open(tmp.path(), create_options(kUuidA));
        ASSERT_TRUE(idx);
        auto none = idx.value()->get_saved("read_grants");
        ASSERT_TRUE(none);
        EXPECT_FALSE(none.value());
        IndexBatch batch;
        batch.put_saved("read_grants", "old");
        batch.put_saved("other", "");
        ASSERT_TRUE(idx.value()->commit(batch, true));
        batch.put_saved("read_grants", bytes);
        ASSERT_TRUE(idx.value()->commit(batch, true));
    }
    {
        auto idx = Index::open(tmp.path(), existing_options(kUuidA));
        ASSERT_TRUE(idx);
        EXPECT_EQ(idx.value()->get_saved("read_grants").value(), bytes);
        EXPECT_EQ(idx.value()->get_saved("other").value(), "");
    }
    test::for_each_raw_family(tmp.path(), [](rocksdb::DB& db, const std::string& name, rocksdb::ColumnFamilyHandle* h) {
        if (name != kMetaColumnFamily) return;
        std::string value;
        ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h, std::string(kMetaSavedPrefix) + "read_grants", &value).ok());
        value[3] ^= 1;
        ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h, std::string(kMetaSavedPrefix) + "read_grants", value).ok());
    });
    auto idx = Index::open(tmp.path(), existing_options(kUuidA));
    ASSERT_TRUE(idx) << idx.error().message;
    auto saved = idx.value()->get_saved("read_grants");
    ASSERT_FALSE(saved);
    EXPECT_EQ(saved.error().code, Errc::corrupt) << saved.error().message;
}

}  // namespace
}  // namespace bcl
