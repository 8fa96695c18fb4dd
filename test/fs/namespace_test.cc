// End-to-end: names and attributes through the mount behave as on the
// backing directory (create, readdir, chmod/chown/utimens/truncate, mknod,
// symlinks, hard links, errors, rename with its flags).
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <functional>
#include <set>

#include "e2e_fixture.h"

namespace bcl::test {
namespace {

using NamespaceTest = MountedTest;

std::set<std::string> list_dir(const std::string& path) {
    std::set<std::string> names;
    DIR* dir = ::opendir(path.c_str());
    if (!dir) return names;
    while (dirent* ent = ::readdir(dir)) names.insert(ent->d_name);
    ::closedir(dir);
    return names;
}

// errno of a failing call, 0 when it succeeded.
int err_of(int result) { return result == 0 ? 0 : errno; }

TEST_F(NamespaceTest, CreateWriteReadMatchesBacking) {
    ASSERT_TRUE(write_file(m("a.txt"), "hello through the mount\n", 0640));
    EXPECT_EQ(read_file(b("a.txt")), "hello through the mount\n");
    EXPECT_EQ(read_file(m("a.txt")), "hello through the mount\n");
    ASSERT_TRUE(write_file(b("b.txt"), "written on the backing side"));
    EXPECT_EQ(read_file(m("b.txt")), "written on the backing side");
    expect_same_stat("a.txt");
    expect_same_stat("b.txt");
    struct stat st {};
    ASSERT_EQ(::stat(b("a.txt").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(NamespaceTest, ReaddirAndReaddirplusOfALargeDirectory) {
    ASSERT_EQ(::mkdir(m("big").c_str(), 0755), 0);
    // Long names so that one listing takes several readdir requests.
    for (int i = 0; i < 400; ++i) {
        std::string name = "big/entry-with-a-rather-long-name-to-fill-buffers-" + std::to_string(i);
        if (i % 2) {
            ASSERT_TRUE(write_file(m(name), std::to_string(i)));
        } else {
            ASSERT_EQ(::mkdir(b(name).c_str(), 0700 + (i % 8)), 0);
        }
    }
    EXPECT_EQ(list_dir(m("big")), list_dir(b("big")));
    EXPECT_EQ(list_dir(m("big")).size(), 402u);
    for (const std::string& name : list_dir(b("big"))) {
        if (name == "." || name == "..") continue;
        expect_same_stat("big/" + name);
    }
    // Twice more: the kernel now holds the inodes, then the second listing
    // must still agree (lookup counts survived the first).
    EXPECT_EQ(list_dir(m("big")), list_dir(b("big")));
    expect_same_stat("big");
}

TEST_F(NamespaceTest, ChmodChownUtimensTruncate) {
    ASSERT_TRUE(write_file(m("f"), std::string(10000, 'x')));
    ASSERT_EQ(::chmod(m("f").c_str(), 04751), 0);
    ASSERT_EQ(::chown(m("f").c_str(), 1234, 5678), 0);
    expect_same_stat("f");
    struct stat st {};
    ASSERT_EQ(::stat(b("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 5678u);

    struct timespec times[2] = {{1000000000, 123456789}, {1200000000, 987654321}};
    ASSERT_EQ(::utimensat(AT_FDCWD, m("f").c_str(), times, 0), 0);
    ASSERT_EQ(::stat(b("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
    EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
    EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
    EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);

    // UTIME_OMIT keeps mtime, UTIME_NOW sets atime to now.
    struct timespec now_omit[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    ASSERT_EQ(::utimensat(AT_FDCWD, m("f").c_str(), now_omit, 0), 0);
    ASSERT_EQ(::stat(b("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
    EXPECT_GT(st.st_atim.tv_sec, 1200000000);
    expect_same_stat("f");

    ASSERT_EQ(::truncate(m("f").c_str(), 123), 0);
    ASSERT_EQ(::stat(b("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 123);
    int fd = ::open(m("f").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 70000), 0);
    ::close(fd);
    ASSERT_EQ(::stat(b("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 70000);
    EXPECT_EQ(read_file(m("f")), std::string(123, 'x') + std::string(70000 - 123, '\0'));
    // O_TRUNC on open goes through the same path.
    fd = ::open(m("f").c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    ::close(fd);
    ASSERT_EQ(::stat(b("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 0);
    expect_same_stat("f");
}

TEST_F(NamespaceTest, MknodFifoAndDeviceNode) {
    ASSERT_EQ(::mkfifo(m("fifo").c_str(), 0620), 0);
    ASSERT_EQ(::mknod(m("null").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
    struct stat st {};
    ASSERT_EQ(::lstat(b("fifo").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    ASSERT_EQ(::lstat(b("null").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 3));
    expect_same_stat("fifo");
    expect_same_stat("null");
}

TEST_F(NamespaceTest, SymlinksAreReturnedNotFollowed) {
    ASSERT_TRUE(write_file(m("target"), "inside"));
    ASSERT_EQ(::symlink("target", m("link").c_str()), 0);
    char buf[256];
    ssize_t n = ::readlink(m("link").c_str(), buf, sizeof buf);
    ASSERT_EQ(n, 6);
    EXPECT_EQ(std::string(buf, 6), "target");
    n = ::readlink(b("link").c_str(), buf, sizeof buf);
    ASSERT_EQ(n, 6);
    EXPECT_EQ(read_file(m("link")), "inside");
    expect_same_stat("link");

    // "../secret" means base/b/secret to the backing directory but base/secret
    // to the mount: reading through the mount must give the client's side.
    ASSERT_TRUE(write_file(t().base() + "/b/secret", "backing side"));
    ASSERT_TRUE(write_file(t().base() + "/secret", "client side"));
    ASSERT_EQ(::symlink("../secret", b("escape").c_str()), 0);
    EXPECT_EQ(read_file(m("escape")), "client side");
    struct stat st {};
    ASSERT_EQ(::lstat(m("escape").c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    // lchown changes the link, not what it points to on either side.
    ASSERT_EQ(::lchown(m("escape").c_str(), 4321, 4321), 0);
    ASSERT_EQ(::lstat(b("escape").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 4321u);
    ASSERT_EQ(::stat((t().base() + "/b/secret").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    // O_NOFOLLOW on a symlink fails as it would locally.
    EXPECT_EQ(::open(m("escape").c_str(), O_RDONLY | O_NOFOLLOW), -1);
    EXPECT_EQ(errno, ELOOP);
    // An absolute symlink: created, listed and read back unchanged.
    ASSERT_EQ(::symlink("/nonexistent/elsewhere", m("abs").c_str()), 0);
    n = ::readlink(b("abs").c_str(), buf, sizeof buf);
    EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), "/nonexistent/elsewhere");
}

TEST_F(NamespaceTest, HardLinks) {
    ASSERT_TRUE(write_file(m("one"), "shared"));
    ASSERT_EQ(::link(m("one").c_str(), m("two").c_str()), 0);
    struct stat a {
    }, c{};
    ASSERT_EQ(::stat(m("one").c_str(), &a), 0);
    ASSERT_EQ(::stat(m("two").c_str(), &c), 0);
    EXPECT_EQ(a.st_ino, c.st_ino);
    EXPECT_EQ(a.st_nlink, 2u);
    expect_same_stat("one");
    expect_same_stat("two");
    ASSERT_TRUE(write_file(m("two"), "changed"));
    EXPECT_EQ(read_file(m("one")), "changed");
    ASSERT_EQ(::unlink(m("one").c_str()), 0);
    expect_same_stat("two");
    ASSERT_EQ(::stat(b("two").c_str(), &a), 0);
    EXPECT_EQ(a.st_nlink, 1u);
}

TEST_F(NamespaceTest, FailuresReturnTheBackingErrno) {
    ASSERT_TRUE(write_file(b("file"), "x"));
    ASSERT_EQ(::mkdir(b("full").c_str(), 0755), 0);
    ASSERT_TRUE(write_file(b("full/inner"), "x"));
    struct Case {
        const char* what;
        std::function<int(const std::string& root)> call;
    };
    const Case cases[] = {
        {"unlink missing", [](const std::string& r) { return err_of(::unlink((r + "/missing").c_str())); }},
        {"open missing",
         [](const std::string& r) { return ::open((r + "/missing").c_str(), O_RDONLY) >= 0 ? 0 : errno; }},
        {"mkdir existing", [](const std::string& r) { return err_of(::mkdir((r + "/full").c_str(), 0755)); }},
        {"rmdir non-empty", [](const std::string& r) { return err_of(::rmdir((r + "/full").c_str())); }},
        {"rmdir file", [](const std::string& r) { return err_of(::rmdir((r + "/file").c_str())); }},
        {"unlink dir", [](const std::string& r) { return err_of(::unlink((r + "/full").c_str())); }},
        {"exclusive create",
         [](const std::string& r) {
             return ::open((r + "/file").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644) >= 0 ? 0 : errno;
         }},
        {"file as dir", [](const std::string& r) { return err_of(::mkdir((r + "/file/sub").c_str(), 0755)); }},
        {"rename dir onto non-empty",
         [](const std::string& r) {
             ::mkdir((r + "/emptydir").c_str(), 0755);
             int e = err_of(::rename((r + "/emptydir").c_str(), (r + "/full").c_str()));
             ::rmdir((r + "/emptydir").c_str());
             return e;
         }},
    };
    for (const Case& c : cases) {
        int backing = c.call(t().backing());
        int mounted = c.call(t().mnt());
        EXPECT_NE(backing, 0) << c.what;
        EXPECT_EQ(mounted, backing) << c.what << ": " << std::strerror(mounted) << " vs " << std::strerror(backing);
    }
}

TEST_F(NamespaceTest, RenamePlainNoreplaceExchange) {
    ASSERT_TRUE(write_file(m("a"), "A"));
    ASSERT_TRUE(write_file(m("b"), "B"));
    ASSERT_EQ(::mkdir(m("d").c_str(), 0755), 0);

    ASSERT_EQ(::renameat2(AT_FDCWD, m("a").c_str(), AT_FDCWD, m("b").c_str(), RENAME_NOREPLACE), -1);
    EXPECT_EQ(errno, EEXIST);
    EXPECT_EQ(read_file(b("b")), "B");

    ASSERT_EQ(::renameat2(AT_FDCWD, m("a").c_str(), AT_FDCWD, m("b").c_str(), RENAME_EXCHANGE), 0);
    EXPECT_EQ(read_file(b("a")), "B");
    EXPECT_EQ(read_file(b("b")), "A");
    EXPECT_EQ(read_file(m("a")), "B");

    ASSERT_EQ(::renameat2(AT_FDCWD, m("a").c_str(), AT_FDCWD, m("missing").c_str(), RENAME_EXCHANGE), -1);
    EXPECT_EQ(errno, ENOENT);

    ASSERT_EQ(::renameat2(AT_FDCWD, m("a").c_str(), AT_FDCWD, m("d/moved").c_str(), RENAME_NOREPLACE), 0);
    EXPECT_EQ(read_file(b("d/moved")), "B");
    EXPECT_EQ(::access(b("a").c_str(), F_OK), -1);

    // A plain rename replaces the target.
    ASSERT_EQ(::rename(m("d/moved").c_str(), m("b").c_str()), 0);
    EXPECT_EQ(read_file(b("b")), "B");
    expect_same_stat("b");
    EXPECT_EQ(list_dir(m("d")), (std::set<std::string>{".", ".."}));
}

// The default timeouts: names the kernel cached as absent appear as soon as
// they are created through the mount.
class DefaultTimeoutsTest : public MountedTest {
protected:
    std::string mount_options() const override { return "allow_other,default_permissions"; }
};

TEST_F(DefaultTimeoutsTest, CreateAfterNegativeLookupAndRemoveAfterLookup) {
    struct stat st {};
    ASSERT_EQ(::stat(m("later").c_str(), &st), -1);
    EXPECT_EQ(errno, ENOENT);
    ASSERT_TRUE(write_file(m("later"), "now"));
    EXPECT_EQ(read_file(m("later")), "now");
    ASSERT_EQ(::unlink(m("later").c_str()), 0);
    EXPECT_EQ(::stat(m("later").c_str(), &st), -1);
    EXPECT_EQ(::access(b("later").c_str(), F_OK), -1);
    ASSERT_EQ(::mkdir(m("d").c_str(), 0700), 0);
    ASSERT_EQ(::rename(m("d").c_str(), m("e").c_str()), 0);
    EXPECT_EQ(list_dir(m(".")), list_dir(b(".")));
}

}  // namespace
}  // namespace bcl::test
