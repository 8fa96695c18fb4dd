// End-to-end: identity=auto|inode|path over bcl-slowfs, which gives a file a
// new inode number once the kernel forgets it, as sshfs and rclone do.
// identity=path (auto's choice there) keeps serving cached data after the
// renumbering, after a rename through the mount and after a restart; drops
// it at an unlink through the mount; never serves a file replaced behind
// the cache's back from the old data. identity=inode shows why path exists.
// What would go by inode number (writeback, pinning a directory) is refused.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/index/name_format.h"
#include "slow_backing.h"

namespace bcl::test {
namespace {

constexpr std::size_t kFileSize = 1 << 20;
// The device of every identity=path file key (fs/identities.h).
constexpr std::uint64_t kPathKeyDev = ~std::uint64_t{0};

// Asks the kernel to drop unused dentries and inodes; false when this
// process may not.
bool drop_dentries_and_inodes() {
    const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool written = ::write(fd, "2", 1) == 1;
    ::close(fd);
    return written;
}

ino_t inode_number(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

class IdentityTest : public SlowBackingTest {
protected:
    // Mounts both with `options`. The names the mount remembers within the
    // coherency window hold the backing's inodes, which keeps the backing
    // from renumbering them: the window is off unless `options` set it.
    void mount_with(const std::string& options) {
        mount_both("", options.find("actimeo=") == std::string::npos ? options + ",actimeo=0" : options);
        if (IsSkipped() || HasFatalFailure()) return;
        if (!drop_dentries_and_inodes()) GTEST_SKIP() << "cannot write /proc/sys/vm/drop_caches";
    }
    std::string put_real(const std::string& rel) {
        std::string data = random_bytes(rng_, kFileSize);
        EXPECT_TRUE(write_file(real_ + "/" + rel, data)) << rel;
        return data;
    }
    // Reads `rel` through the mount until the cache holds all of it.
    void cache_whole(const std::string& rel, const std::string& want) {
        EXPECT_TRUE(read_whole(mount_->m(rel)) == want) << rel;
        EXPECT_EQ(cached_bytes(mount_->m(rel)), want.size()) << rel;
    }
    // Makes the kernel forget the file's inodes, the mount's and then the
    // backing's, until the backing gives `rel` another inode number: true
    // once it did, within kMountTimeout.
    bool backing_renumbers(const std::string& rel) {
        const std::string path = mount_->b(rel);
        const ino_t before = inode_number(path);
        return before != 0 && wait_until(
                                  [&] {
                                      drop_dentries_and_inodes();
                                      const ino_t now = inode_number(path);
                                      return now != 0 && now != before;
                                  },
                                  kMountTimeout);
    }
    unsigned long backing_reads() const { return slow_->counters()["read"]; }
    // Reads `rel` with `want` through the mount and expects every byte
    // from the cache: no backing read, at least 95% of the reads hits.
    void expect_read_from_cache(const std::string& rel, const std::string& want) {
        const unsigned long reads = backing_reads();
        const Stats before = Stats::read(mount_->mnt());
        ASSERT_TRUE(before.ok()) << before.error();
        EXPECT_TRUE(read_whole(mount_->m(rel)) == want) << rel << " differs";
        const Stats after = Stats::read(mount_->mnt());
        ASSERT_TRUE(after.ok()) << after.error();
        const std::uint64_t hits = after["cache_hits"] - before["cache_hits"];
        const std::uint64_t misses = after["cache_misses"] - before["cache_misses"];
        EXPECT_EQ(backing_reads(), reads) << rel << " was read from the backing";
        EXPECT_GT(hits, 0u);
        EXPECT_GE(hits * 100, (hits + misses) * 95) << hits << " hits, " << misses << " misses";
    }

    std::mt19937_64 rng_{20260505};
};

class IdentityByPathTest : public IdentityTest, public testing::WithParamInterface<const char*> {};

TEST_P(IdentityByPathTest, CachedDataIsReadFromTheCacheAfterTheBackingRenumbersTheFile) {
    mount_with(GetParam());
    if (IsSkipped() || HasFatalFailure()) return;
    EXPECT_EQ(get_xattr(mount_->mnt(), attr("identity")), "path");
    const std::string data = put_real("big");
    cache_whole("big", data);
    ASSERT_TRUE(backing_renumbers("big")) << "bcl-slowfs kept the inode number";
    expect_read_from_cache("big", data);
}

INSTANTIATE_TEST_SUITE_P(AutoAndPath, IdentityByPathTest, testing::Values("identity=auto", "identity=path"));

TEST_F(IdentityTest, ByInodeTheCachedDataIsLostWhenTheBackingRenumbersTheFile) {
    mount_with("identity=inode");
    if (IsSkipped() || HasFatalFailure()) return;
    EXPECT_EQ(get_xattr(mount_->mnt(), attr("identity")), "inode");
    const std::string data = put_real("big");
    cache_whole("big", data);
    ASSERT_TRUE(backing_renumbers("big"));
    const unsigned long reads = backing_reads();
    EXPECT_TRUE(read_whole(mount_->m("big")) == data);
    EXPECT_GT(backing_reads(), reads) << "a renumbered file is another file by inode number";
}

TEST_F(IdentityTest, ARenameThroughTheMountKeepsTheCachedDataOfAFileAndOfADirectory) {
    mount_with("identity=path");
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string f = put_real("f1");
    ASSERT_EQ(::mkdir((real_ + "/d").c_str(), 0755), 0);
    const std::string inner = put_real("d/inner");
    cache_whole("f1", f);
    cache_whole("d/inner", inner);

    ASSERT_EQ(::rename(mount_->m("f1").c_str(), mount_->m("f2").c_str()), 0) << std::strerror(errno);
    ASSERT_EQ(::rename(mount_->m("d").c_str(), mount_->m("e").c_str()), 0) << std::strerror(errno);
    EXPECT_EQ(cached_bytes(mount_->m("f2")), f.size());
    EXPECT_EQ(cached_bytes(mount_->m("e/inner")), inner.size());
    ASSERT_TRUE(backing_renumbers("f2"));
    expect_read_from_cache("f2", f);
    expect_read_from_cache("e/inner", inner);
}

// The name record of `name` below the root and its file's extents, as the
// index of a stopped mount holds them; none when there is no record.
struct Recorded {
    std::optional<std::uint64_t> id;
    std::optional<FileRecord> file;
    std::size_t extents = 0;
};

Recorded recorded(const std::string& index_dir, const std::string& name) {
    IndexOptions o;
    o.read_only = true;
    auto index = Index::open(index_dir, o);
    EXPECT_TRUE(index) << (index ? "" : index.error().message);
    Recorded r;
    if (!index) return r;
    auto rec = index.value()->get_name(kRootNameId, name);
    EXPECT_TRUE(rec);
    if (!rec || !rec.value()) return r;
    r.id = rec.value()->id;
    auto file = index.value()->get_file(FileIdentity{kPathKeyDev, *r.id, 0});
    EXPECT_TRUE(file);
    if (!file || !file.value()) return r;
    r.file = file.value();
    auto extents = index.value()->lookup(r.file->file_id, 0, UINT64_MAX);
    EXPECT_TRUE(extents);
    if (extents) r.extents = extents.value().size();
    return r;
}

TEST_F(IdentityTest, AnUnlinkThroughTheMountDropsTheNameAndTheCachedData) {
    mount_with("identity=path");
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string gone = put_real("gone");
    const std::string kept = put_real("kept");
    cache_whole("gone", gone);
    cache_whole("kept", kept);
    ASSERT_TRUE(mount_->stop());
    const Recorded before = recorded(mount_->index_path(), "gone");
    ASSERT_TRUE(before.file) << "the cached file has a record under its path's id";
    EXPECT_GT(before.extents, 0u);

    ASSERT_TRUE(mount_->start()) << mount_->error();
    ASSERT_EQ(::unlink(mount_->m("gone").c_str()), 0) << std::strerror(errno);
    ASSERT_TRUE(mount_->stop());
    const Recorded after = recorded(mount_->index_path(), "gone");
    EXPECT_FALSE(after.id) << "the name's record is dropped";
    IndexOptions o;
    o.read_only = true;
    auto index = Index::open(mount_->index_path(), o);
    ASSERT_TRUE(index) << index.error().message;
    EXPECT_FALSE(index.value()->get_file(FileIdentity{kPathKeyDev, *before.id, 0}).value());
    EXPECT_TRUE(index.value()->lookup(before.file->file_id, 0, UINT64_MAX).value().empty());
    index.value().reset();
    EXPECT_GT(recorded(mount_->index_path(), "kept").extents, 0u) << "the other file keeps its data";
}

TEST_F(IdentityTest, AFileReplacedBehindTheCachesBackIsNeverServedStale) {
    // Without a coherency window: the change is seen at the next open.
    mount_with("identity=path,actimeo=0");
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string old_data = put_real("r");
    cache_whole("r", old_data);
    struct stat st {};
    ASSERT_EQ(::stat((real_ + "/r").c_str(), &st), 0);
    ASSERT_TRUE(wait_for_clock_past(st.st_ctim));
    // Rewritten in place, below bcl-slowfs, with as many bytes.
    const std::string rewritten = put_real("r");
    EXPECT_TRUE(read_whole(mount_->m("r")) == rewritten) << "served the old bytes";
    ASSERT_EQ(::stat((real_ + "/r").c_str(), &st), 0);
    ASSERT_TRUE(wait_for_clock_past(st.st_ctim));
    // Replaced by another file under the same name.
    const std::string replaced = put_real("r.new");
    ASSERT_EQ(::rename((real_ + "/r.new").c_str(), (real_ + "/r").c_str()), 0);
    EXPECT_TRUE(read_whole(mount_->m("r")) == replaced) << "served the replaced file's bytes";
    ASSERT_TRUE(backing_renumbers("r"));
    EXPECT_TRUE(read_whole(mount_->m("r")) == replaced);
}

TEST_F(IdentityTest, ARestartedDaemonStillReadsFromTheCache) {
    mount_with("identity=path");
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string data = put_real("big");
    cache_whole("big", data);
    ASSERT_TRUE(mount_->stop());
    ASSERT_TRUE(mount_->start()) << mount_->error();
    ASSERT_TRUE(backing_renumbers("big"));
    expect_read_from_cache("big", data);
}

TEST_F(IdentityTest, PathIdentityRefusesWritebackAndPinnedDirectories) {
    mount_with("identity=path");
    if (IsSkipped() || HasFatalFailure()) return;
    EXPECT_EQ(set_xattr(mount_->mnt(), attr("cache_mode"), "writeback"), EOPNOTSUPP);
    EXPECT_EQ(get_xattr(mount_->mnt(), attr("cache_mode")), "writethrough");
    ASSERT_EQ(::mkdir(mount_->m("dir").c_str(), 0755), 0);
    EXPECT_EQ(set_xattr(mount_->m("dir"), attr("pin"), "1"), EOPNOTSUPP);
    // A regular file is pinned and fetched as in every mode.
    const std::string data = put_real("p");
    EXPECT_EQ(set_xattr(mount_->m("p"), attr("pin"), "1"), 0);
    EXPECT_EQ(get_xattr(mount_->m("p"), attr("pin")), "1");
    EXPECT_TRUE(wait_until([&] { return get_xattr(mount_->m("p"), attr("pinned")) == std::to_string(data.size()); }))
        << "the pinned file was not fetched";
}

class LocalIdentityTest : public CacheMountTest {};

class LocalPathIdentityTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        spec.options += ",identity=path";
        return spec;
    }
};

// Two names of one file are two files to the cache; a write through one
// must not leave the other's cached data to be served, even when it comes
// within the timestamps' granularity of the change the other last saw.
TEST_F(LocalPathIdentityTest, AWriteThroughOneHardLinkIsReadThroughTheOther) {
    std::mt19937_64 rng(7);
    std::string data = random_bytes(rng, 65536);
    ASSERT_TRUE(write_file(m("a"), data));
    ASSERT_EQ(::link(m("a").c_str(), m("b").c_str()), 0) << std::strerror(errno);
    for (int round = 0; round < 100; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        ASSERT_TRUE(read_whole(m("a")) == data);
        data[0] = static_cast<char>(round);
        const int fd = ::open(m("b").c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pwrite(fd, data.data(), 1, 0), 1);
        ASSERT_EQ(::close(fd), 0);
        const auto got = read_whole(m("a"));
        ASSERT_TRUE(got && (*got)[0] == data[0]) << "the other name served its old cached data";
    }
}

TEST_F(LocalIdentityTest, AutoGoesByInodeOnALocalBacking) {
    EXPECT_EQ(get_xattr(t().mnt(), attr("identity")), "inode");
    EXPECT_NE(t().daemon_log().find("identity=inode: the backing is not a FUSE file system"), std::string::npos)
        << t().daemon_log();
}

TEST_F(LocalIdentityTest, IdentityPathWithWritebackIsRefusedInOneLineNamingTheFix) {
    ASSERT_TRUE(t().stop());
    MountSpec spec = t().spec();
    spec.options += ",identity=path,mode=writeback";
    t().set_spec(spec);
    EXPECT_FALSE(t().start());
    EXPECT_NE(t().error().find("mode=writeback: this mount recognises files by path (identity=path)"),
              std::string::npos)
        << t().error();
    EXPECT_NE(t().error().find("mount with identity=inode"), std::string::npos) << t().error();
}

}  // namespace
}  // namespace bcl::test
