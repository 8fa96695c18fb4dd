// ReadGrants across mounts: what save() wrote, restore() gives back as
// grants that stand only once a stat finds their file unchanged; bytes that
// do not decode add nothing.
#include "read_grants.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace bcl {
namespace {

struct statx file_stx(std::uint64_t size, std::int64_t mtime) {
    struct statx stx;
    std::memset(&stx, 0, sizeof stx);
    stx.stx_mask = STATX_BASIC_STATS | STATX_BTIME;
    stx.stx_mode = S_IFREG | 0640;
    stx.stx_nlink = 1;
    stx.stx_uid = 1000;
    stx.stx_gid = 100;
    stx.stx_size = size;
    stx.stx_ino = 77;
    stx.stx_dev_major = 8;
    stx.stx_dev_minor = 3;
    stx.stx_mtime.tv_sec = mtime;
    stx.stx_mtime.tv_nsec = 5;
    stx.stx_ctime = stx.stx_mtime;
    stx.stx_btime.tv_sec = -2;  // before the epoch: signed fields survive
    stx.stx_btime.tv_nsec = 999'999'999;
    return stx;
}

struct stat stat_of(const struct statx& stx) {
    struct stat st {};
    st.st_size = static_cast<off_t>(stx.stx_size);
    st.st_mode = stx.stx_mode;
    st.st_mtim = {stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec};
    st.st_ctim = {stx.stx_ctime.tv_sec, stx.stx_ctime.tv_nsec};
    return st;
}

const CallerId kReader{1000, 100, {100, 4, 27}};
const FileKey kFile{2049, 77};

class ReadGrantsSavedTest : public testing::Test {
protected:
    ReadGrantsSavedTest() {
        before_.add(kFile, kReader, ReadGrants::Grant{file_stx(4096, 1700000000), 1234});
        before_.add(kFile, CallerId{0, 0, {}}, ReadGrants::Grant{file_stx(4096, 1700000000), 99});
        before_.add(FileKey{2049, 78}, kReader, ReadGrants::Grant{file_stx(10, 1), 5});
    }
    ReadGrants before_;
};

TEST_F(ReadGrantsSavedTest, RestoredGrantsKeepTheirCallerAndFileButStandOnlyOnceRenewed) {
    ReadGrants after;
    ASSERT_TRUE(after.restore(before_.save()));
    const auto grant = after.find(kFile, kReader);
    ASSERT_TRUE(grant);
    const struct statx want = file_stx(4096, 1700000000);
    EXPECT_EQ(std::memcmp(&grant->stx, &want, sizeof want), 0) << "the file's statx changed on the way";
    EXPECT_EQ(grant->checked_ns, 0) << "a restored grant stood unrenewed";
    EXPECT_FALSE(after.find(kFile, CallerId{1000, 100, {100, 4}})) << "another set of groups is another caller";
    EXPECT_TRUE(after.find(kFile, CallerId{0, 0, {}}));
    EXPECT_TRUE(after.find(FileKey{2049, 78}, kReader));

    after.renew(kFile, stat_of(want), 42);
    EXPECT_EQ(after.find(kFile, kReader)->checked_ns, 42);
}

TEST_F(ReadGrantsSavedTest, AFileChangedSinceTheSaveIsNotRenewed) {
    ReadGrants after;
    ASSERT_TRUE(after.restore(before_.save()));
    after.renew(kFile, stat_of(file_stx(4097, 1700000000)), 42);  // size
    after.renew(kFile, stat_of(file_stx(4096, 1700000001)), 43);  // mtime
    struct statx chmodded = file_stx(4096, 1700000000);
    chmodded.stx_mode = S_IFREG | 0644;
    chmodded.stx_ctime.tv_nsec = 6;
    after.renew(kFile, stat_of(chmodded), 44);
    EXPECT_EQ(after.find(kFile, kReader)->checked_ns, 0);
}

TEST_F(ReadGrantsSavedTest, AGrantOfThisMountIsKeptOverARestoredOne) {
    ReadGrants after;
    after.add(kFile, kReader, ReadGrants::Grant{file_stx(1, 1), 7});
    ASSERT_TRUE(after.restore(before_.save()));
    EXPECT_EQ(after.find(kFile, kReader)->checked_ns, 7);
    EXPECT_TRUE(after.find(FileKey{2049, 78}, kReader));
}

TEST_F(ReadGrantsSavedTest, BytesThatDoNotDecodeAddNothing) {
    const std::string saved = before_.save();
    // Every cut short, a byte more, another version.
    for (std::size_t n = 0; n < saved.size(); ++n) {
        ReadGrants after;
        EXPECT_FALSE(after.restore(saved.substr(0, n))) << "cut at " << n;
        EXPECT_FALSE(after.find(kFile, kReader)) << "cut at " << n;
    }
    ReadGrants after;
    EXPECT_FALSE(after.restore(saved + "x"));
    std::string other = saved;
    other[0] = 2;
    EXPECT_FALSE(after.restore(other));
    EXPECT_FALSE(after.find(kFile, kReader));
    EXPECT_TRUE(after.restore(ReadGrants().save())) << "no grants is a valid save";
}

}  // namespace
}  // namespace bcl
