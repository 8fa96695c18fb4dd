// End-to-end: file data and the rest of an open file's life through the
// mount: random reads and writes, open-unlinked files, sparse files,
// copy_file_range, fallocate, xattrs, statfs.
#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "e2e_fixture.h"

namespace bcl::test {
namespace {

using DataTest = MountedTest;

std::vector<std::string> dir_names(const std::string& path) {
    std::vector<std::string> names;
    DIR* dir = ::opendir(path.c_str());
    if (!dir) return names;
    while (dirent* ent = ::readdir(dir)) names.emplace_back(ent->d_name);
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
}

// listxattr of `path`: the names in the user namespace, sorted.
std::vector<std::string> user_xattr_names(const std::string& path) {
    std::vector<std::string> names;
    const ssize_t len = ::listxattr(path.c_str(), nullptr, 0);
    if (len <= 0) return names;
    std::string list(static_cast<std::size_t>(len), '\0');
    const ssize_t n = ::listxattr(path.c_str(), list.data(), list.size());
    if (n < 0) return names;
    list.resize(static_cast<std::size_t>(n));
    for (std::size_t pos = 0; pos < list.size();) {
        const std::size_t end = std::min(list.find('\0', pos), list.size());
        std::string name = list.substr(pos, end - pos);
        if (name.rfind("user.", 0) == 0) names.push_back(std::move(name));
        pos = end + 1;
    }
    std::sort(names.begin(), names.end());
    return names;
}

TEST_F(DataTest, RandomReadsAndWritesMatchByteForByte) {
    constexpr std::size_t kSpan = 6 << 20;
    std::mt19937_64 rng(20240601);
    std::vector<char> shadow;
    int fd = ::open(m("random.bin").c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    std::vector<char> buf;
    for (int op = 0; op < 300; ++op) {
        std::size_t off = rng() % kSpan;
        // Sizes from 1 byte to 1.5 MiB: beyond max_write, so some requests split.
        std::size_t len = 1 + rng() % (op % 10 == 0 ? (3 << 19) : 70000);
        buf.resize(len);
        if (rng() % 2 == 0) {
            for (auto& c : buf) c = static_cast<char>(rng());
            ASSERT_EQ(::pwrite(fd, buf.data(), len, static_cast<off_t>(off)), static_cast<ssize_t>(len));
            if (shadow.size() < off + len) shadow.resize(off + len, '\0');
            std::copy(buf.begin(), buf.end(), shadow.begin() + static_cast<std::ptrdiff_t>(off));
        } else {
            ssize_t n = ::pread(fd, buf.data(), len, static_cast<off_t>(off));
            std::size_t expect = off >= shadow.size() ? 0 : std::min(len, shadow.size() - off);
            ASSERT_EQ(n, static_cast<ssize_t>(expect)) << "op " << op << " off " << off << " len " << len;
            ASSERT_TRUE(std::equal(buf.begin(), buf.begin() + n, shadow.begin() + static_cast<std::ptrdiff_t>(off)))
                << "op " << op;
        }
        if (op % 50 == 49) {
            ASSERT_EQ(op % 100 == 99 ? ::fsync(fd) : ::fdatasync(fd), 0);
        }
    }
    ASSERT_EQ(::close(fd), 0);
    std::string expected(shadow.begin(), shadow.end());
    EXPECT_TRUE(read_file(b("random.bin")) == expected) << "backing file differs";
    EXPECT_TRUE(read_file(m("random.bin")) == expected) << "read back through the mount differs";
    expect_same_stat("random.bin");
}

TEST_F(DataTest, AppendGoesToTheEnd) {
    ASSERT_TRUE(write_file(m("log"), "one\n"));
    int fd = ::open(m("log").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "two\n", 4), 4);
    ASSERT_EQ(::write(fd, "three\n", 6), 6);
    ::close(fd);
    EXPECT_EQ(read_file(b("log")), "one\ntwo\nthree\n");
}

TEST_F(DataTest, OpenUnlinkedFileKeepsWorkingAndLeavesNothing) {
    ASSERT_TRUE(write_file(m("doomed"), "before"));
    int fd = ::open(m("doomed").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::unlink(m("doomed").c_str()), 0);
    ASSERT_EQ(::pwrite(fd, " and after", 10, 6), 10);
    char buf[32] = {};
    ASSERT_EQ(::pread(fd, buf, sizeof buf, 0), 16);
    EXPECT_EQ(std::string(buf, 16), "before and after");
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    EXPECT_EQ(st.st_nlink, 0u);
    EXPECT_EQ(st.st_size, 16);
    ASSERT_EQ(::ftruncate(fd, 3), 0);
    ASSERT_EQ(::pread(fd, buf, sizeof buf, 0), 3);
    const std::vector<std::string> empty = {".", ".."};
    EXPECT_EQ(dir_names(t().mnt()), empty);
    EXPECT_EQ(dir_names(t().backing()), empty);
    ASSERT_EQ(::close(fd), 0);
    EXPECT_EQ(dir_names(t().mnt()), empty);
    EXPECT_EQ(dir_names(t().backing()), empty);
}

TEST_F(DataTest, SeekDataAndHoleMatchTheBackingFile) {
    int bfd = ::open(b("sparse").c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(bfd, 0);
    std::string block(4096, 'd');
    ASSERT_EQ(::pwrite(bfd, block.data(), block.size(), 0), 4096);
    ASSERT_EQ(::pwrite(bfd, block.data(), block.size(), 1 << 20), 4096);
    ASSERT_EQ(::pwrite(bfd, block.data(), block.size(), 3 << 20), 4096);
    ASSERT_EQ(::ftruncate(bfd, 5 << 20), 0);
    ASSERT_EQ(::fsync(bfd), 0);
    int mfd = ::open(m("sparse").c_str(), O_RDONLY);
    ASSERT_GE(mfd, 0);
    bool saw_hole = false;
    for (off_t off : {off_t{0}, off_t{100}, off_t{4096}, off_t{8192}, off_t{(1 << 20) + 10}, off_t{2 << 20},
                      off_t{(3 << 20) + 4095}, off_t{4 << 20}}) {
        for (int whence : {SEEK_DATA, SEEK_HOLE}) {
            errno = 0;
            off_t expect = ::lseek(bfd, off, whence);
            int expect_errno = errno;
            errno = 0;
            off_t got = ::lseek(mfd, off, whence);
            EXPECT_EQ(got, expect) << "offset " << off << (whence == SEEK_DATA ? " SEEK_DATA" : " SEEK_HOLE");
            EXPECT_EQ(errno, expect_errno) << "offset " << off;
            if (whence == SEEK_HOLE && expect >= 0 && expect < (5 << 20)) saw_hole = true;
        }
    }
    EXPECT_TRUE(saw_hole) << "the backing file system reported no holes; the comparison proved little";
    ::close(mfd);
    ::close(bfd);
}

TEST_F(DataTest, CopyFileRangeWithinTheMount) {
    std::string data;
    std::mt19937 rng(7);
    for (int i = 0; i < (3 << 20); ++i) data.push_back(static_cast<char>('a' + rng() % 26));
    ASSERT_TRUE(write_file(m("src"), data));
    int in = ::open(m("src").c_str(), O_RDONLY);
    int out = ::open(m("dst").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(in, 0);
    ASSERT_GE(out, 0);
    loff_t off_in = 1000, off_out = 5000;
    std::size_t want = (2 << 20) + 333, done = 0;
    while (done < want) {
        ssize_t n = ::copy_file_range(in, &off_in, out, &off_out, want - done, 0);
        ASSERT_GT(n, 0) << std::strerror(errno);
        done += static_cast<std::size_t>(n);
    }
    ::close(in);
    ::close(out);
    std::string expected = std::string(5000, '\0') + data.substr(1000, want);
    EXPECT_TRUE(read_file(b("dst")) == expected);
    EXPECT_TRUE(read_file(m("dst")) == expected);
}

TEST_F(DataTest, FallocateAndPunchHole) {
    int fd = ::open(m("alloc").c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fallocate(fd, 0, 0, 1 << 20), 0) << std::strerror(errno);
    struct stat st {};
    ASSERT_EQ(::stat(b("alloc").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 1 << 20);
    EXPECT_GE(st.st_blocks * 512, 1 << 20);
    std::string ones(1 << 20, '1');
    ASSERT_EQ(::pwrite(fd, ones.data(), ones.size(), 0), static_cast<ssize_t>(ones.size()));
    ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192), 0) << std::strerror(errno);
    ASSERT_EQ(::fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20), 0);
    ::close(fd);
    std::string expected = ones;
    std::fill(expected.begin() + 4096, expected.begin() + 4096 + 8192, '\0');
    EXPECT_TRUE(read_file(b("alloc")) == expected);
    EXPECT_TRUE(read_file(m("alloc")) == expected);
    expect_same_stat("alloc");
}

TEST_F(DataTest, XattrsPassThroughToTheBackingFile) {
    ASSERT_TRUE(write_file(m("x"), "x"));
    ASSERT_EQ(::setxattr(m("x").c_str(), "user.color", "blue", 4, 0), 0) << std::strerror(errno);
    char buf[256];
    ssize_t n = ::getxattr(b("x").c_str(), "user.color", buf, sizeof buf);
    ASSERT_EQ(n, 4);
    EXPECT_EQ(std::string(buf, 4), "blue");
    ASSERT_EQ(::setxattr(b("x").c_str(), "user.size", "big", 3, 0), 0);
    EXPECT_EQ(::getxattr(m("x").c_str(), "user.size", nullptr, 0), 3);
    EXPECT_EQ(::getxattr(m("x").c_str(), "user.size", buf, 1), -1);
    EXPECT_EQ(errno, ERANGE);
    EXPECT_EQ(::setxattr(m("x").c_str(), "user.color", "red", 3, XATTR_CREATE), -1);
    EXPECT_EQ(errno, EEXIST);
    n = ::listxattr(m("x").c_str(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    std::string list(buf, static_cast<std::size_t>(n));
    EXPECT_NE(list.find(std::string("user.color\0", 11)), std::string::npos);
    EXPECT_NE(list.find(std::string("user.size\0", 10)), std::string::npos);
    ASSERT_EQ(::removexattr(m("x").c_str(), "user.color"), 0);
    EXPECT_EQ(::getxattr(b("x").c_str(), "user.color", buf, sizeof buf), -1);
    EXPECT_EQ(errno, ENODATA);
    EXPECT_EQ(::getxattr(m("x").c_str(), "user.missing", buf, sizeof buf), -1);
    EXPECT_EQ(errno, ENODATA);
    // Directories carry them too.
    ASSERT_EQ(::mkdir(m("dir").c_str(), 0755), 0);
    ASSERT_EQ(::setxattr(m("dir").c_str(), "user.tag", "t", 1, 0), 0);
    EXPECT_EQ(::getxattr(b("dir").c_str(), "user.tag", buf, sizeof buf), 1);
}

// user.bcachefs_lite. belongs to the cache's statistics: a file offers
// user.bcachefs_lite.cached_bytes, read-only (EPERM to set or remove);
// other names under the prefix do not exist (ENODATA to get or remove,
// EINVAL to set). Whatever is asked, nothing under the prefix reaches the
// backing file, and what the backing file carries under it stays hidden.
TEST_F(DataTest, ReservedXattrNamespaceNeverReachesTheBackingFile) {
    ASSERT_TRUE(write_file(m("r"), "r"));
    const std::string cached = "user.bcachefs_lite.cached_bytes";
    const std::string unknown = "user.bcachefs_lite.hits";
    const std::string stale = "user.bcachefs_lite.stale";
    char buf[256];
    auto backing_has_none = [&](const std::string& name) {
        errno = 0;
        EXPECT_EQ(::getxattr(b("r").c_str(), name.c_str(), buf, sizeof buf), -1) << name << " reached the backing file";
        EXPECT_EQ(errno, ENODATA) << name;
    };

    // The statistic: readable, a decimal number, and read-only.
    ssize_t n = ::getxattr(m("r").c_str(), cached.c_str(), buf, sizeof buf);
    ASSERT_GT(n, 0) << std::strerror(errno);
    const std::string value(buf, static_cast<std::size_t>(n));
    EXPECT_EQ(value.find_first_not_of("0123456789"), std::string::npos) << value;
    EXPECT_EQ(::setxattr(m("r").c_str(), cached.c_str(), "1", 1, 0), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(::setxattr(m("r").c_str(), cached.c_str(), "1", 1, XATTR_CREATE), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(::removexattr(m("r").c_str(), cached.c_str()), -1);
    EXPECT_EQ(errno, EPERM);
    backing_has_none(cached);

    // An unknown name under the prefix.
    EXPECT_EQ(::setxattr(m("r").c_str(), unknown.c_str(), "1", 1, 0), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(::getxattr(m("r").c_str(), unknown.c_str(), buf, sizeof buf), -1);
    EXPECT_EQ(errno, ENODATA);
    EXPECT_EQ(::removexattr(m("r").c_str(), unknown.c_str()), -1);
    EXPECT_EQ(errno, ENODATA);
    backing_has_none(unknown);

    // A name under the prefix that the backing file carries stays hidden
    // and untouched, whatever is asked of it through the mount.
    ASSERT_EQ(::setxattr(b("r").c_str(), stale.c_str(), "s", 1, 0), 0);
    ASSERT_EQ(::setxattr(b("r").c_str(), "user.other", "o", 1, 0), 0);
    EXPECT_EQ(::getxattr(m("r").c_str(), stale.c_str(), buf, sizeof buf), -1);
    EXPECT_EQ(errno, ENODATA);
    EXPECT_EQ(::setxattr(m("r").c_str(), stale.c_str(), "new", 3, 0), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(::removexattr(m("r").c_str(), stale.c_str()), -1);
    EXPECT_EQ(errno, ENODATA);
    EXPECT_EQ(::getxattr(b("r").c_str(), stale.c_str(), buf, sizeof buf), 1) << "left untouched";
    EXPECT_EQ(buf[0], 's');

    // The mount lists the backing file's own names and the statistics; the
    // backing file lists nothing under the prefix but what it was given.
    EXPECT_EQ(user_xattr_names(m("r")),
              (std::vector<std::string>{cached, "user.bcachefs_lite.dirty_bytes", "user.bcachefs_lite.pin",
                                        "user.bcachefs_lite.pinned", "user.other"}));
    n = ::listxattr(m("r").c_str(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    EXPECT_EQ(::listxattr(m("r").c_str(), nullptr, 0), n);
    EXPECT_EQ(user_xattr_names(b("r")), (std::vector<std::string>{stale, "user.other"}));
}

TEST_F(DataTest, StatfsIsTheBackingFileSystems) {
    struct statvfs ms {
    }, bs{};
    ASSERT_EQ(::statvfs(t().mnt().c_str(), &ms), 0);
    ASSERT_EQ(::statvfs(t().backing().c_str(), &bs), 0);
    EXPECT_EQ(ms.f_bsize, bs.f_bsize);
    EXPECT_EQ(ms.f_frsize, bs.f_frsize);
    EXPECT_EQ(ms.f_blocks, bs.f_blocks);
    EXPECT_EQ(ms.f_files, bs.f_files);
    EXPECT_EQ(ms.f_namemax, bs.f_namemax);
}

}  // namespace
}  // namespace bcl::test
