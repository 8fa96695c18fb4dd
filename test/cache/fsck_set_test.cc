// fsck of an unmounted cache set of two devices (cache/fsck.h): dirty data
// written through the engine with replicas=2 onto two cache files, then one
// or both copies damaged on the devices, then checked and repaired, and
// the set mounted again to read what is left.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <map>
#include <optional>

#include "bcachefs_lite/cache/fsck.h"
#include "cache_fixture.h"
#include "index/raw_db.h"

namespace bcl::test {
namespace {

constexpr std::uint64_t kMemberBuckets = 64;

class FsckSetTest : public CacheTest {
protected:
    void SetUp() override {
        CacheTest::SetUp();
        members_ = {dir_.file("cache0.img"), dir_.file("cache1.img")};
        ASSERT_TRUE(open_backing_root());
        FormatOptions fo;
        fo.bucket_size = kTestBucketSize;
        fo.block_size = kTestBlockSize;
        fo.size = (first_bucket_for(kTestBucketSize) + kMemberBuckets) * kTestBucketSize;
        auto sbs = format_set(members_, fo);
        ASSERT_TRUE(sbs) << sbs.error().message;
    }
    CacheSetOptions set_options() const {
        CacheSetOptions o = options();
        o.cache_paths = members_;
        o.replicas = 2;
        o.tunables.mode = CacheMode::writeback;
        o.backing_root_fd = root_fd_;
        // The data stays dirty: nothing is written back unless asked.
        o.tunables.writeback.writeback_running = false;
        return o;
    }

    // Two files written dirty through the set, each extent with a copy on
    // both devices; the set closed cleanly.
    void populate() {
        open_set(set_options());
        for (const char* name : {"a", "b"}) {
            write_whole(path(name), std::string(2 * kTestBucketSize, 'o'));
            EngineFile f(*set_, path(name));
            model_[name] = random_bytes(rng_, 2 * kTestBucketSize);
            f.write(0, model_[name]);
            auto st = set_->fsync(*f.state, f.backing.fd(), false);
            ASSERT_TRUE(st) << st.error().message;
        }
        ASSERT_TRUE(set_->close());
        set_.reset();
    }

    // fsck over the members, given in `order`.
    Result<FsckReport> fsck(bool repair, std::vector<std::string> order = {}) {
        auto devices = open_fsck_devices(order.empty() ? members_ : order);
        if (!devices) return devices.error();
        std::vector<CacheDevice*> members;
        for (const auto& d : devices.value()) members.push_back(d.get());
        return fsck_over(members, index_dir_, repair);
    }
    FsckReport check(bool repair = false) {
        auto r = fsck(repair);
        EXPECT_TRUE(r) << r.error().message;
        return r ? r.value() : FsckReport{};
    }

    std::vector<Extent> all_extents() {
        auto index = Index::open(index_dir_, IndexOptions{});
        EXPECT_TRUE(index) << index.error().message;
        std::vector<Extent> out;
        if (!index) return out;
        EXPECT_TRUE(index.value()->for_each_extent([&](const Extent& e) {
            out.push_back(e);
            return true;
        }));
        return out;
    }
    std::optional<Extent> find(const ExtentKey& key) {
        for (const Extent& e : all_extents())
            if (e.key == key) return e;
        return std::nullopt;
    }

    // Flips one byte of copy `copy` of the extent's data, on its device.
    void flip_copy(const Extent& e, unsigned copy) {
        const ExtentPtr p = e.value.ptr(copy);
        ASSERT_LT(p.device, members_.size());
        const int fd = ::open(members_[p.device].c_str(), O_RDWR | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        const off_t at = static_cast<off_t>(p.sector * kSectorSize + 100);
        char c = 0;
        ASSERT_EQ(::pread(fd, &c, 1, at), 1);
        c = static_cast<char>(c ^ 0x5a);
        ASSERT_EQ(::pwrite(fd, &c, 1, at), 1);
        ::close(fd);
    }
    // The first extent, with its copies on devices 0 and 1 (in that order
    // of pointers or the other).
    Extent replicated_extent() {
        const std::vector<Extent> extents = all_extents();
        EXPECT_FALSE(extents.empty());
        for (const Extent& e : extents)
            if (e.value.nptrs() == 2) return e;
        ADD_FAILURE() << "no extent has two copies";
        return Extent{};
    }
    // Points e's copy on device 1 past the end of the device, and with
    // !keep_checksum says the extent has no valid checksum; returns the
    // value stored.
    ExtentValue with_copy_1_nowhere(const Extent& e, bool keep_checksum) {
        ExtentValue broken = e.value;
        const unsigned on_1 = broken.ptr_on(1).value();
        ExtentPtr p = broken.ptr(on_1);
        p.bucket = first_bucket_for(kTestBucketSize) + kMemberBuckets + 5;
        broken.set_ptr(on_1, p);
        if (!keep_checksum) broken.flags &= static_cast<std::uint8_t>(~kExtentCrcValid);
        auto index = Index::open(index_dir_, IndexOptions{});
        EXPECT_TRUE(index) << index.error().message;
        IndexBatch b;
        b.replace_extent_if_unchanged(e.key, e.value, broken);
        auto committed = index.value()->commit(b, true);
        EXPECT_TRUE(committed && committed.value().skipped.empty());
        return broken;
    }
    // Bumps the stored gen of the bucket of device 1 that holds e's copy
    // there (as if the bucket was reused); returns the extents with a copy
    // in that bucket.
    std::vector<Extent> bump_bucket_on_1(const Extent& e) {
        const ExtentPtr p = e.value.ptr(e.value.ptr_on(1).value());
        std::vector<Extent> in_bucket;
        for (const Extent& x : all_extents()) {
            const std::optional<unsigned> c = x.value.ptr_on(1);
            if (c && x.value.ptr(*c).bucket == p.bucket) in_bucket.push_back(x);
        }
        auto index = Index::open(index_dir_, IndexOptions{});
        EXPECT_TRUE(index) << index.error().message;
        const BucketGenRecord bumped{p.bucket, static_cast<std::uint8_t>(p.gen + 1), 0};
        EXPECT_TRUE(index.value()->put_bucket_gens(1, std::span(&bumped, 1)));
        return in_bucket;
    }
    // Reads every file through a set mounted again, against what was written.
    void expect_files_read_back() {
        open_set(set_options());
        for (const auto& [name, data] : model_) {
            EngineFile f(*set_, path(name));
            EXPECT_EQ(f.read_chunked(0, data.size()), data) << name;
        }
        ASSERT_TRUE(set_->close());
        set_.reset();
    }
    static bool names(const FsckReport& r, const std::string& text) {
        for (const std::string& p : r.problems)
            if (p.find(text) != std::string::npos) return true;
        return false;
    }

    std::vector<std::string> members_;
    std::map<std::string, std::string> model_;
};

TEST_F(FsckSetTest, AHealthySetHasNoErrorsWhateverTheOrderGiven) {
    populate();
    for (const auto& order : {members_, std::vector<std::string>{members_[1], members_[0]}}) {
        auto r = fsck(false, order);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_GT(r.value().extents, 0u);
        EXPECT_EQ(r.value().live, r.value().extents);
        EXPECT_EQ(r.value().dirty, r.value().extents) << "writeback is off: every extent is dirty";
        EXPECT_EQ(r.value().bad_copies + r.value().bad_checksum + r.value().bad_pointer + r.value().stale, 0u);
        EXPECT_FALSE(r.value().errors()) << (r.value().problems.empty() ? "" : r.value().problems.front());
    }
    for (const Extent& e : all_extents()) EXPECT_EQ(e.value.nptrs(), 2u) << "replicas=2 wrote one copy";
}

TEST_F(FsckSetTest, ABadCopyOnDevice1IsFoundAndDroppedAndTheDataReadsFromTheOther) {
    populate();
    const Extent e = replicated_extent();
    const unsigned on_1 = e.value.ptr_on(1).value();
    flip_copy(e, on_1);

    FsckReport r = check();
    EXPECT_EQ(r.bad_copies, 1u);
    EXPECT_EQ(r.bad_checksum, 0u) << "the extent is good: only its copy is bad";
    EXPECT_EQ(r.left, 1u);
    EXPECT_EQ(r.live, r.extents);
    EXPECT_TRUE(names(r, "its copy on device 1 in bucket")) << (r.problems.empty() ? "" : r.problems.front());
    EXPECT_EQ(find(e.key)->value, e.value) << "a check without repair changed the index";

    r = check(/*repair=*/true);
    EXPECT_EQ(r.bad_copies, 1u);
    EXPECT_EQ(r.repaired, 1u);
    EXPECT_EQ(r.left, 0u);
    EXPECT_TRUE(names(r, "the copy on device 1 dropped"));
    const std::optional<Extent> after = find(e.key);
    ASSERT_TRUE(after) << "the extent went with its bad copy";
    EXPECT_EQ(after->value.nptrs(), 1u);
    EXPECT_EQ(after->value.ptr(0), e.value.ptr(1 - on_1));
    EXPECT_TRUE(after->value.dirty());
    EXPECT_FALSE(check().errors());

    // The data is dirty (never written back): it can only come from the
    // copy left on device 0.
    expect_files_read_back();
}

TEST_F(FsckSetTest, ABadFirstCopyLeavesTheReplicaAsTheExtent) {
    populate();
    const Extent e = replicated_extent();
    flip_copy(e, 0);

    const FsckReport r = check(/*repair=*/true);
    EXPECT_EQ(r.bad_copies, 1u);
    EXPECT_EQ(r.repaired, 1u);
    EXPECT_TRUE(names(r, fmt::format("its copy on device {} in bucket", e.value.ptr(0).device)));
    const std::optional<Extent> after = find(e.key);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->value.nptrs(), 1u);
    EXPECT_EQ(after->value.ptr(0), e.value.ptr(1));
    EXPECT_FALSE(check().errors());
    expect_files_read_back();
}

TEST_F(FsckSetTest, DirtyDataWithBothCopiesBadIsReportedAndKept) {
    populate();
    const Extent e = replicated_extent();
    flip_copy(e, 0);
    flip_copy(e, 1);

    const FsckReport r = check(/*repair=*/true);
    EXPECT_EQ(r.bad_checksum, 1u);
    EXPECT_EQ(r.bad_copies, 0u);
    EXPECT_EQ(r.repaired, 0u);
    EXPECT_EQ(r.left, 1u);
    EXPECT_TRUE(names(r, "dirty data is never dropped"));
    EXPECT_TRUE(names(r, "its copy on device 0") && names(r, "and its copy on device 1"));
    EXPECT_EQ(find(e.key)->value, e.value) << "dirty data without a good copy was changed";
}

TEST_F(FsckSetTest, ACopyPointingAtAMissingBucketIsABadCopy) {
    populate();
    const Extent e = replicated_extent();
    const ExtentValue broken = with_copy_1_nowhere(e, /*keep_checksum=*/true);
    const FsckReport r = check(/*repair=*/true);
    EXPECT_EQ(r.bad_copies, 1u);
    EXPECT_EQ(r.repaired, 1u);
    EXPECT_TRUE(names(r, "which does not exist"));
    const std::optional<Extent> after = find(e.key);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->value.nptrs(), 1u);
    EXPECT_EQ(after->value.ptr(0), broken.ptr(broken.ptr_on(0).value()));
    EXPECT_FALSE(check().errors());
}

TEST_F(FsckSetTest, ABadCopyOfDirtyDataStaysWhenTheOtherCannotBeVerified) {
    populate();
    const Extent e = replicated_extent();
    const ExtentValue broken = with_copy_1_nowhere(e, /*keep_checksum=*/false);
    const FsckReport r = check(/*repair=*/true);
    EXPECT_EQ(r.bad_copies, 1u);
    EXPECT_EQ(r.repaired, 0u);
    EXPECT_EQ(r.left, 1u);
    EXPECT_TRUE(names(r, "has no checksum to verify it by"));
    EXPECT_EQ(find(e.key)->value, broken) << "dirty data lost a copy for one that cannot be verified";
}

TEST_F(FsckSetTest, AStaleCopyOfCleanDataIsNoErrorAndRepairTakesItOut) {
    populate();
    // Every extent clean and no dirty-file record: as after writeback.
    {
        const std::vector<Extent> extents = all_extents();
        auto index = Index::open(index_dir_, IndexOptions{});
        ASSERT_TRUE(index) << index.error().message;
        IndexBatch b;
        for (const Extent& e : extents) {
            ExtentValue clean = e.value;
            clean.flags &= static_cast<std::uint8_t>(~kExtentDirty);
            b.replace_extent_if_unchanged(e.key, e.value, clean);
            b.delete_dirty_file(e.key.file);
        }
        ASSERT_TRUE(index.value()->commit(b, true));
    }
    const std::vector<Extent> stale = bump_bucket_on_1(replicated_extent());
    ASSERT_FALSE(stale.empty());

    FsckReport r = check();
    EXPECT_EQ(r.stale, stale.size());
    EXPECT_EQ(r.bad_copies, 0u);
    EXPECT_FALSE(r.errors()) << (r.problems.empty() ? "" : r.problems.front());

    r = check(/*repair=*/true);
    EXPECT_EQ(r.stale_deleted, stale.size());
    EXPECT_FALSE(r.errors());
    for (const Extent& e : stale) {
        const std::optional<Extent> after = find(e.key);
        ASSERT_TRUE(after) << "a clean extent with a good copy was deleted";
        EXPECT_EQ(after->value.nptrs(), 1u);
        EXPECT_FALSE(after->value.ptr_on(1));
    }
    EXPECT_EQ(check().stale, 0u);
}

TEST_F(FsckSetTest, AStaleCopyOfDirtyDataIsABadCopyDroppedForTheVerifiedOne) {
    populate();
    const std::vector<Extent> stale = bump_bucket_on_1(replicated_extent());
    ASSERT_FALSE(stale.empty());

    FsckReport r = check();
    EXPECT_EQ(r.bad_copies, stale.size());
    EXPECT_EQ(r.left, stale.size());
    EXPECT_TRUE(names(r, "is stale"));

    r = check(/*repair=*/true);
    EXPECT_EQ(r.repaired, stale.size());
    EXPECT_EQ(r.left, 0u);
    for (const Extent& e : stale) EXPECT_EQ(find(e.key)->value.nptrs(), 1u);
    EXPECT_FALSE(check().errors());
    expect_files_read_back();
}

TEST_F(FsckSetTest, AMountRefusingTheIndexNamesFsckWithEveryMember) {
    populate();
    const Extent e = replicated_extent();
    for_each_raw_family(index_dir_, [&](rocksdb::DB& db, const std::string& name, rocksdb::ColumnFamilyHandle* h) {
        if (name != "extents") return;
        ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h, encode_extent_key(e.key), "garbage").ok());
    });
    auto refused = CacheSet::open(set_options(), log_);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find(
                  fmt::format("bcachefs-lite-ctl fsck {} {} --index {}", members_[0], members_[1], index_dir_)),
              std::string::npos)
        << refused.error().message;

    const FsckReport r = check(/*repair=*/true);
    EXPECT_EQ(r.corrupt_entries, 1u);
    EXPECT_EQ(r.left, 1u) << "its file has dirty data: the entry stays";
}

TEST_F(FsckSetTest, EveryMemberIsNeededAndRunFsckRefusesAPart) {
    populate();
    auto one = open_fsck_devices({members_[1]});
    ASSERT_FALSE(one);
    EXPECT_EQ(one.error().code, Errc::not_found);
    EXPECT_NE(one.error().message.find("device 0 of it is not given"), std::string::npos) << one.error().message;
    EXPECT_NE(one.error().message.find("fsck needs every member"), std::string::npos) << one.error().message;
    EXPECT_EQ(one.error().message.find("degraded"), std::string::npos) << one.error().message;

    auto twice = open_fsck_devices({members_[0], members_[0]});
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error().code, Errc::invalid);

    // The engine itself refuses anything but the whole set in order.
    auto devices = open_fsck_devices(members_);
    ASSERT_TRUE(devices) << devices.error().message;
    IndexOptions io;
    io.read_only = true;
    auto index = Index::open(index_dir_, io);
    ASSERT_TRUE(index) << index.error().message;
    auto part = run_fsck(*devices.value()[1], *index.value());
    ASSERT_FALSE(part);
    EXPECT_EQ(part.error().code, Errc::unsupported);
    CacheDevice* const swapped[] = {devices.value()[1].get(), devices.value()[0].get()};
    auto reordered = run_fsck(std::span<CacheDevice* const>(swapped), *index.value());
    ASSERT_FALSE(reordered);
    EXPECT_EQ(reordered.error().code, Errc::unsupported);
}

}  // namespace
}  // namespace bcl::test
