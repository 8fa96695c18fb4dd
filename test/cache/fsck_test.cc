// fsck of an unmounted cache (cache/fsck.h): a real cache filled through
// the engine, then damaged on the device or in the index, then checked and
// repaired. Dirty data is planted as index entries (a clean extent marked
// dirty, with or without a dirty-file record) so that no test needs
// writeback's privileges.
#include "bcachefs_lite/cache/fsck.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_fixture.h"
#include "index/raw_db.h"

namespace bcl::test {
namespace {

class FsckTest : public CacheTest {
protected:
    // A 64-bucket cache holding two files of three buckets each, read
    // through the engine and closed cleanly.
    void populate() {
        format_cache(64);
        open_set();
        for (const char* name : {"a", "b"}) {
            const std::string data = random_bytes(rng_, 3 * kTestBucketSize);
            write_whole(path(name), data);
            EngineFile f(*set_, path(name));
            ASSERT_EQ(f.read_chunked(0, data.size()), data);
        }
        ASSERT_TRUE(set_->close());
        set_.reset();
    }

    Result<FsckReport> fsck(bool repair) {
        FileDeviceOptions fo;
        fo.read_only = true;
        auto dev = CacheDevice::open(cache_path_, fo);
        if (!dev) return dev.error();
        CacheDevice* const one[] = {dev.value().get()};
        return fsck_over(one, index_dir_, repair);
    }

    FsckReport check(bool repair = false) {
        auto r = fsck(repair);
        EXPECT_TRUE(r) << r.error().message;
        return r ? r.value() : FsckReport{};
    }

    std::unique_ptr<Index> open_index() {
        auto index = Index::open(index_dir_, IndexOptions{});
        EXPECT_TRUE(index) << index.error().message;
        return index ? std::move(index).value() : nullptr;
    }

    std::vector<Extent> all_extents() {
        auto index = open_index();
        std::vector<Extent> out;
        EXPECT_TRUE(index->for_each_extent([&](const Extent& e) {
            out.push_back(e);
            return true;
        }));
        return out;
    }

    // Flips one byte of the extent's data on the device.
    void flip_data(const Extent& e) {
        const int fd = ::open(cache_path_.c_str(), O_RDWR | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        const off_t at = static_cast<off_t>(e.value.sector * kSectorSize + 100);
        char c = 0;
        ASSERT_EQ(::pread(fd, &c, 1, at), 1);
        c = static_cast<char>(c ^ 0x5a);
        ASSERT_EQ(::pwrite(fd, &c, 1, at), 1);
        ::close(fd);
    }

    // Replaces the extent by the same one marked dirty, with a dirty-file
    // record for its file when `with_record`.
    void make_dirty(const Extent& e, bool with_record) {
        auto index = open_index();
        IndexBatch b;
        ExtentValue dirty = e.value;
        dirty.flags |= kExtentDirty;
        b.replace_extent_if_unchanged(e.key, e.value, dirty);
        if (with_record) b.put_dirty_file(e.key.file, DirtyFileRecord{1, 2, 0, 1, "handle"});
        auto r = index->commit(b, true);
        ASSERT_TRUE(r) << r.error().message;
        ASSERT_TRUE(r.value().skipped.empty());
    }

    // Overwrites the stored value of the extent with bytes that do not decode.
    void garble(const Extent& e) {
        for_each_raw_family(index_dir_, [&](rocksdb::DB& db, const std::string& name, rocksdb::ColumnFamilyHandle* h) {
            if (name != "extents") return;
            ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h, encode_extent_key(e.key), "garbage").ok());
        });
    }

    FileIdentity identity_of(const std::string& name) {
        struct stat st {};
        EXPECT_EQ(::stat(path(name).c_str(), &st), 0);
        return FileIdentity{st.st_dev, st.st_ino, 0};
    }
    std::uint64_t file_id_of(const std::string& name) {
        auto index = open_index();
        auto rec = index->get_file(identity_of(name));
        EXPECT_TRUE(rec && rec.value()) << "no file record for " << name;
        return rec && rec.value() ? rec.value()->file_id : 0;
    }
    std::size_t extents_of(std::uint64_t file_id) {
        std::size_t n = 0;
        for (const Extent& x : all_extents()) n += x.key.file == file_id;
        return n;
    }
    // Overwrites the stored file record of backing file `name` with bytes
    // that do not decode.
    void garble_file_record(const std::string& name) {
        const FileIdentity id = identity_of(name);
        for_each_raw_family(
            index_dir_, [&](rocksdb::DB& db, const std::string& family, rocksdb::ColumnFamilyHandle* h) {
                if (family != "files") return;
                ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h, encode_file_key(id.dev, id.ino), "garbage").ok());
            });
    }

    bool extent_exists(const Extent& e) {
        for (const Extent& x : all_extents())
            if (x.key == e.key) return true;
        return false;
    }
};

TEST_F(FsckTest, AHealthyCacheHasNoErrors) {
    populate();
    const FsckReport r = check();
    EXPECT_GT(r.extents, 0u);
    EXPECT_EQ(r.live, r.extents);
    EXPECT_EQ(r.stale + r.bad_checksum + r.bad_pointer + r.corrupt_entries + r.orphaned, 0u);
    EXPECT_FALSE(r.errors());
    EXPECT_TRUE(r.problems.empty());
}

TEST_F(FsckTest, ACleanExtentWithBadDataIsReportedThenDeleted) {
    populate();
    const std::vector<Extent> before = all_extents();
    ASSERT_FALSE(before.empty());
    flip_data(before.front());

    FsckReport r = check();
    EXPECT_EQ(r.bad_checksum, 1u);
    EXPECT_EQ(r.left, 1u);
    EXPECT_EQ(r.repaired, 0u);
    EXPECT_TRUE(extent_exists(before.front())) << "a check without repair changed the index";

    r = check(/*repair=*/true);
    EXPECT_EQ(r.bad_checksum, 1u);
    EXPECT_EQ(r.repaired, 1u);
    EXPECT_EQ(r.left, 0u);
    EXPECT_FALSE(extent_exists(before.front()));
    EXPECT_EQ(all_extents().size(), before.size() - 1);
    EXPECT_FALSE(check().errors());
}

TEST_F(FsckTest, DirtyDataThatFailsIsNeverDropped) {
    populate();
    const Extent e = all_extents().front();
    make_dirty(e, /*with_record=*/true);
    flip_data(e);

    const FsckReport r = check(/*repair=*/true);
    EXPECT_EQ(r.dirty, 1u);
    EXPECT_EQ(r.bad_checksum, 1u);
    EXPECT_EQ(r.repaired, 0u);
    EXPECT_EQ(r.left, 1u);
    EXPECT_TRUE(extent_exists(e));
}

TEST_F(FsckTest, ABumpedGenMakesExtentsStaleAndRepairDeletesTheCleanOnes) {
    populate();
    const std::vector<Extent> before = all_extents();
    const std::uint64_t bucket = before.front().value.bucket;
    std::size_t in_bucket = 0;
    for (const Extent& e : before) in_bucket += e.value.bucket == bucket;
    {
        auto index = open_index();
        const BucketGenRecord bumped{bucket, static_cast<std::uint8_t>(before.front().value.gen + 1), 0};
        ASSERT_TRUE(index->put_bucket_gens(0, std::span(&bumped, 1)));
    }
    FsckReport r = check();
    EXPECT_EQ(r.stale, in_bucket);
    EXPECT_FALSE(r.errors()) << "stale clean extents are normal";

    r = check(/*repair=*/true);
    EXPECT_EQ(r.stale_deleted, in_bucket);
    EXPECT_EQ(all_extents().size(), before.size() - in_bucket);
    EXPECT_EQ(check().stale, 0u);
}

TEST_F(FsckTest, AStaleDirtyExtentIsLeft) {
    populate();
    const Extent e = all_extents().front();
    make_dirty(e, /*with_record=*/true);
    {
        auto index = open_index();
        const BucketGenRecord bumped{e.value.bucket, static_cast<std::uint8_t>(e.value.gen + 1), 0};
        ASSERT_TRUE(index->put_bucket_gens(0, std::span(&bumped, 1)));
    }
    const FsckReport r = check(/*repair=*/true);
    EXPECT_GE(r.stale, 1u);
    EXPECT_EQ(r.left, 1u);
    EXPECT_TRUE(extent_exists(e));
}

TEST_F(FsckTest, AnUndecodableEntryOfACleanFileIsErased) {
    populate();
    const std::vector<Extent> before = all_extents();
    garble(before.front());

    FsckReport r = check();
    EXPECT_EQ(r.corrupt_entries, 1u);
    EXPECT_EQ(r.left, 1u);

    r = check(/*repair=*/true);
    EXPECT_EQ(r.corrupt_entries, 1u);
    EXPECT_EQ(r.repaired, 1u);
    EXPECT_EQ(r.left, 0u);
    EXPECT_EQ(all_extents().size(), before.size() - 1);
    EXPECT_FALSE(check().errors());
}

TEST_F(FsckTest, AnUndecodableEntryOfAFileWithDirtyDataIsLeft) {
    populate();
    const std::vector<Extent> before = all_extents();
    make_dirty(before.back(), /*with_record=*/true);
    // Another extent of the same file.
    const Extent* victim = nullptr;
    for (const Extent& e : before)
        if (e.key.file == before.back().key.file && e.key != before.back().key) victim = &e;
    ASSERT_NE(victim, nullptr);
    garble(*victim);

    const FsckReport r = check(/*repair=*/true);
    EXPECT_EQ(r.corrupt_entries, 1u);
    EXPECT_EQ(r.repaired, 0u);
    EXPECT_EQ(r.left, 1u);
    EXPECT_EQ(r.orphaned, 0u);
    auto index = open_index();
    EXPECT_TRUE(index->get_dirty_file(before.back().key.file).value().has_value());
}

TEST_F(FsckTest, DirtyFileRecordsAndDirtyExtentsMustMatch) {
    populate();
    const Extent e = all_extents().front();
    make_dirty(e, /*with_record=*/false);
    {
        auto index = open_index();
        IndexBatch b;
        b.put_dirty_file(999999, DirtyFileRecord{1, 2, 0, 1, "h"});
        ASSERT_TRUE(index->commit(b, true));
    }
    FsckReport r = check();
    EXPECT_EQ(r.orphaned, 2u);
    EXPECT_EQ(r.left, 2u);

    r = check(/*repair=*/true);
    EXPECT_EQ(r.orphaned, 2u);
    EXPECT_EQ(r.repaired, 1u) << "the record without dirty extents goes";
    EXPECT_EQ(r.left, 1u) << "dirty extents without a record stay";
    EXPECT_TRUE(extent_exists(e));
    auto index = open_index();
    EXPECT_FALSE(index->get_dirty_file(999999).value().has_value());
}

TEST_F(FsckTest, AnIndexOpenForWritingIsBusy) {
    populate();
    {
        auto index = open_index();
        const Status st = check_index_unused(index_dir_);
        ASSERT_FALSE(st);
        EXPECT_EQ(st.error().code, Errc::busy);
        EXPECT_NE(st.error().message.find("in use"), std::string::npos) << st.error().message;
    }
    EXPECT_TRUE(check_index_unused(index_dir_));
    EXPECT_TRUE(check_index_unused(dir_.file("nowhere")));
}

TEST_F(FsckTest, ExtentsThatNoFileRecordReachesAreReportedAndTheCleanOnesDeleted) {
    populate();
    const std::uint64_t a = file_id_of("a");
    const std::size_t a_extents = extents_of(a);
    ASSERT_GT(a_extents, 0u);
    ASSERT_TRUE(open_index()->delete_file(identity_of("a"), true));

    FsckReport r = check();
    EXPECT_EQ(r.files, 1u);
    EXPECT_EQ(r.unreachable, a_extents);
    EXPECT_EQ(r.left, a_extents);
    EXPECT_EQ(extents_of(a), a_extents) << "a check without repair changed the index";

    r = check(/*repair=*/true);
    EXPECT_EQ(r.repaired, a_extents);
    EXPECT_EQ(extents_of(a), 0u);
    EXPECT_GT(extents_of(file_id_of("b")), 0u) << "the other file's extents must stay";
    EXPECT_FALSE(check().errors());
}

TEST_F(FsckTest, AFileRecordThatDoesNotDecodeIsDeletedUnlessItsFileHasDirtyData) {
    populate();
    const std::uint64_t a = file_id_of("a");
    const std::size_t a_extents = extents_of(a);
    garble_file_record("a");

    FsckReport r = check();
    EXPECT_EQ(r.files, 2u);
    EXPECT_EQ(r.bad_file_records, 1u);
    EXPECT_EQ(r.unreachable, a_extents) << "the extents of a file whose record is gone are unreachable";

    r = check(/*repair=*/true);
    EXPECT_EQ(r.repaired, 1 + a_extents);
    EXPECT_EQ(r.left, 0u);
    EXPECT_FALSE(open_index()->get_file(identity_of("a")).value().has_value());
    EXPECT_FALSE(check().errors());

    // The same damage to a file that a dirty-file record names is left.
    const FileIdentity b = identity_of("b");
    const std::uint64_t b_id = file_id_of("b");
    {
        auto index = open_index();
        IndexBatch batch;
        batch.put_dirty_file(b_id, DirtyFileRecord{b.dev, b.ino, 0, 1, "handle"});
        ASSERT_TRUE(index->commit(batch, true));
    }
    garble_file_record("b");
    r = check(/*repair=*/true);
    EXPECT_EQ(r.bad_file_records, 1u);
    EXPECT_NE(r.left, 0u);
    bool named = false;
    for (const std::string& p : r.problems) named |= p.find("has dirty data, so it is left") != std::string::npos;
    EXPECT_TRUE(named);
    for_each_raw_family(index_dir_, [&](rocksdb::DB& db, const std::string& family, rocksdb::ColumnFamilyHandle* h) {
        if (family != "files") return;
        std::string value;
        EXPECT_TRUE(db.Get(rocksdb::ReadOptions(), h, encode_file_key(b.dev, b.ino), &value).ok())
            << "the record of a file with dirty data was deleted";
    });
}

TEST_F(FsckTest, ADirtyFileRecordThatDoesNotDecodeIsReportedAndItsDataKept) {
    populate();
    const Extent e = all_extents().front();
    make_dirty(e, /*with_record=*/true);
    for_each_raw_family(index_dir_, [&](rocksdb::DB& db, const std::string& family, rocksdb::ColumnFamilyHandle* h) {
        if (family != "dirty_files") return;
        ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h, encode_dirty_file_key(e.key.file), "garbage").ok());
    });
    // Refused at open, and fsck can still run and say why.
    auto refused = CacheSet::open(options(), log_);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("bcachefs-lite-ctl fsck"), std::string::npos) << refused.error().message;

    const FsckReport r = check(/*repair=*/true);
    EXPECT_EQ(r.orphaned, 1u);
    EXPECT_EQ(r.left, 1u);
    bool named = false;
    for (const std::string& p : r.problems)
        named |= p.find("writeback cannot find its backing file") != std::string::npos;
    EXPECT_TRUE(named);
    EXPECT_TRUE(extent_exists(e)) << "dirty data was dropped";
}

TEST_F(FsckTest, AnIndexThatFailsItsChecksIsRefusedAtOpenUntilRepaired) {
    populate();
    const std::vector<Extent> before = all_extents();
    ASSERT_FALSE(before.empty());
    garble(before.front());

    auto refused = CacheSet::open(options(), log_);
    ASSERT_FALSE(refused) << "an index with an entry that does not decode was opened";
    EXPECT_EQ(refused.error().code, Errc::corrupt);
    EXPECT_NE(refused.error().message.find("bcachefs-lite-ctl fsck"), std::string::npos) << refused.error().message;
    EXPECT_NE(refused.error().message.find(index_dir_), std::string::npos) << refused.error().message;

    const FsckReport r = check(/*repair=*/true);
    EXPECT_EQ(r.corrupt_entries, 1u);
    EXPECT_EQ(r.repaired, 1u);
    open_set();
    // The repair cost only the entry it deleted: the index was clean, and
    // the refused open left it so.
    EXPECT_TRUE(set_->opened_clean());
    EngineFile a(*set_, path("a"));
    const std::string data = backing_read(path("a"), 0, 3 * kTestBucketSize);
    EXPECT_EQ(a.read_chunked(0, data.size()), data);
}

}  // namespace
}  // namespace bcl::test
