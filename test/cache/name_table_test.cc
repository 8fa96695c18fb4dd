// NameTable (identity=path): ids that last while a name names the same kind
// of entry, renames and removals through the mount, and what a cache set
// given caller identities refuses because it would go by inode.
#include "bcachefs_lite/cache/name_table.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_fixture.h"

namespace bcl::test {
namespace {

class NameTableTest : public CacheTest {
protected:
    void SetUp() override {
        CacheTest::SetUp();
        format_cache(64);
        open_set();
        names_ = std::make_unique<NameTable>(set_->index());
    }
    void TearDown() override {
        names_.reset();
        CacheTest::TearDown();
    }
    std::uint64_t id(std::uint64_t parent, const char* name, std::uint32_t type = S_IFREG) {
        auto r = names_->id_of(parent, name, type);
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        return r ? r.value() : 0;
    }
    std::optional<std::uint64_t> found(std::uint64_t parent, const char* name, std::uint32_t type = S_IFREG) {
        auto r = names_->find(parent, name, type);
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        return r ? r.value() : std::nullopt;
    }

    std::unique_ptr<NameTable> names_;
};

TEST_F(NameTableTest, ANameKeepsItsIdWhileItNamesTheSameKindOfEntry) {
    const std::uint64_t f = id(kRootNameId, "f");
    EXPECT_NE(f, kRootNameId);
    EXPECT_EQ(id(kRootNameId, "f"), f);
    EXPECT_NE(id(7, "f"), f) << "another directory, another name";
    const std::uint64_t d = id(kRootNameId, "f", S_IFDIR);
    EXPECT_NE(d, f) << "a directory where a file was is another entry";
    EXPECT_EQ(found(kRootNameId, "f", S_IFDIR), d);
    EXPECT_FALSE(found(kRootNameId, "f", S_IFREG));
    EXPECT_FALSE(found(kRootNameId, "never"));
}

TEST_F(NameTableTest, IdsSurviveAReopenAndAreNeverHandedOutTwice) {
    const std::uint64_t f = id(kRootNameId, "f");
    names_.reset();
    reopen_set();
    names_ = std::make_unique<NameTable>(set_->index());
    EXPECT_EQ(id(kRootNameId, "f"), f);
    EXPECT_NE(id(kRootNameId, "g"), f);
}

TEST_F(NameTableTest, ARenameMovesTheIdAndReplacesTheTarget) {
    const std::uint64_t dir = id(kRootNameId, "d", S_IFDIR);
    const std::uint64_t f = id(dir, "f");
    const std::uint64_t g = id(kRootNameId, "g");
    ASSERT_TRUE(names_->rename(dir, "f", kRootNameId, "g", false));
    EXPECT_EQ(found(kRootNameId, "g"), f);
    EXPECT_FALSE(found(dir, "f"));
    EXPECT_NE(id(kRootNameId, "g"), g);

    // A directory's children follow it: they are keyed by its id.
    const std::uint64_t child = id(dir, "c");
    ASSERT_TRUE(names_->rename(kRootNameId, "d", kRootNameId, "e", false));
    EXPECT_EQ(found(kRootNameId, "e", S_IFDIR), dir);
    EXPECT_EQ(found(dir, "c"), child);
}

TEST_F(NameTableTest, AnExchangeSwapsAndARemoveDrops) {
    const std::uint64_t a = id(kRootNameId, "a");
    const std::uint64_t b = id(kRootNameId, "b");
    ASSERT_TRUE(names_->rename(kRootNameId, "a", kRootNameId, "b", true));
    EXPECT_EQ(found(kRootNameId, "a"), b);
    EXPECT_EQ(found(kRootNameId, "b"), a);
    ASSERT_TRUE(names_->rename(kRootNameId, "a", kRootNameId, "none", true));
    EXPECT_FALSE(found(kRootNameId, "a"));
    EXPECT_EQ(found(kRootNameId, "none"), b);
    ASSERT_TRUE(names_->remove(kRootNameId, "none"));
    EXPECT_FALSE(found(kRootNameId, "none"));
}

class CallerIdentitiesTest : public CacheTest {
protected:
    CacheSetOptions path_options() {
        CacheSetOptions o = options();
        EXPECT_TRUE(open_backing_root());
        o.backing_root_fd = root_fd_;
        o.caller_identities = true;
        return o;
    }
};

TEST_F(CallerIdentitiesTest, WritebackIsRefusedNamingTheFix) {
    if (::geteuid() != 0) GTEST_SKIP() << "file handles need root (open_by_handle_at)";
    format_cache(64);
    CacheSetOptions o = path_options();
    o.tunables.mode = CacheMode::writeback;
    auto set = CacheSet::open(std::move(o), log_);
    ASSERT_FALSE(set);
    EXPECT_NE(set.error().message.find("identity=inode"), std::string::npos) << set.error().message;

    open_set(path_options());
    auto switched = set_->set_mode(CacheMode::writeback);
    ASSERT_FALSE(switched);
    EXPECT_NE(switched.error().message.find("identity=inode"), std::string::npos) << switched.error().message;
}

TEST_F(CallerIdentitiesTest, PinningADirectoryIsRefusedAndAFileIsNot) {
    format_cache(64);
    open_set(path_options());
    const std::string dir = backing_ + "/d";
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    write_whole(dir + "/f", std::string(8192, 'p'));
    const int dfd = ::open(dir.c_str(), O_PATH | O_CLOEXEC);
    ASSERT_GE(dfd, 0);
    struct statx dstx {};
    ASSERT_EQ(::statx(dfd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &dstx), 0);
    auto refused = set_->pins().set_pinned(dfd, dstx, true);
    ::close(dfd);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::unsupported);

    BackingFile file(dir + "/f");
    struct statx fstx = file.stx();
    fstx.stx_ino = 12345;  // the caller's id, not the inode number
    EXPECT_TRUE(set_->pins().set_pinned(file.fd(), fstx, true));
    EXPECT_TRUE(set_->pins().pinned(fstx).value());
}

}  // namespace
}  // namespace bcl::test
