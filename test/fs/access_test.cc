// End-to-end: who owns what is created through the mount, permission checks
// for other users, access(2), and locks between processes.
#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e_fixture.h"

namespace bcl::test {
namespace {

using AccessTest = MountedTest;

struct Owner {
    uid_t uid;
    gid_t gid;
};

Owner owner_of(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return {static_cast<uid_t>(-1), static_cast<gid_t>(-1)};
    return {st.st_uid, st.st_gid};
}

// 0 when the call succeeded, else its errno (as a child's exit status).
int code(bool succeeded) { return succeeded ? 0 : errno; }

void make_dir(const std::string& path, mode_t mode, uid_t uid = 0, gid_t gid = 0) {
    ASSERT_EQ(::mkdir(path.c_str(), mode), 0) << path;
    ASSERT_EQ(::chown(path.c_str(), uid, gid), 0);
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// Forks, takes uid/gid and the supplementary `groups`, runs body.
int run_with_groups(uid_t uid, gid_t gid, std::vector<gid_t> groups, const std::function<int()>& body) {
    return run_in_child([&] {
        if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) return 250;
        return body();
    });
}

TEST_F(AccessTest, WhatAUserCreatesBelongsToThatUser) {
    make_dir(b("shared"), 0777);
    int result = run_as(kNobody, kNogroup, [&] {
        if (int fd = ::open(m("shared/file").c_str(), O_CREAT | O_WRONLY, 0640); fd < 0) return 10;
        if (::mkdir(m("shared/dir").c_str(), 0750) != 0) return 11;
        if (::symlink("file", m("shared/link").c_str()) != 0) return 12;
        if (::mkfifo(m("shared/fifo").c_str(), 0600) != 0) return 13;
        if (::link(m("shared/file").c_str(), m("shared/hard").c_str()) != 0) return 14;
        if (::chmod(m("shared/file").c_str(), 0604) != 0) return 15;
        return 0;
    });
    ASSERT_EQ(result, 0);
    for (const char* name : {"file", "dir", "link", "fifo", "hard"}) {
        Owner o = owner_of(b(std::string("shared/") + name));
        EXPECT_EQ(o.uid, kNobody) << name;
        EXPECT_EQ(o.gid, kNogroup) << name;
        expect_same_stat(std::string("shared/") + name);
    }
    struct stat st {};
    ASSERT_EQ(::stat(b("shared/file").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0604u);
    // What root creates stays root's: a hard link keeps its owner.
    ASSERT_EQ(::link(m("shared/file").c_str(), m("shared/roots-link").c_str()), 0);
    EXPECT_EQ(owner_of(b("shared/roots-link")).uid, kNobody);
    ASSERT_TRUE(write_file(m("shared/roots"), "r"));
    EXPECT_EQ(owner_of(b("shared/roots")).uid, 0u);
}

TEST_F(AccessTest, PermissionsApplyToOtherUsers) {
    ASSERT_TRUE(write_file(b("secret"), "root only", 0600));
    ASSERT_EQ(::chmod(b("secret").c_str(), 0600), 0);
    make_dir(b("closed"), 0755);
    ASSERT_TRUE(write_file(b("readable"), "anyone", 0644));
    ASSERT_EQ(::chmod(b("readable").c_str(), 0644), 0);
    EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return code(::open(m("secret").c_str(), O_RDONLY) >= 0); }), EACCES);
    EXPECT_EQ(
        run_as(kNobody, kNogroup, [&] { return code(::open(m("closed/new").c_str(), O_CREAT | O_WRONLY, 0644) >= 0); }),
        EACCES);
    EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return code(::mkdir(m("closed/sub").c_str(), 0755) == 0); }), EACCES);
    EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return code(::chmod(m("readable").c_str(), 0666) == 0); }), EPERM);
    EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return code(::open(m("readable").c_str(), O_WRONLY) >= 0); }), EACCES);
    EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return code(::open(m("readable").c_str(), O_RDONLY) >= 0); }), 0);
    EXPECT_EQ(::access(b("closed/new").c_str(), F_OK), -1);
    EXPECT_EQ(read_file(b("readable")), "anyone");
}

TEST_F(AccessTest, SetgidDirectoriesAndSupplementaryGroups) {
    constexpr gid_t kTeam = 4242;
    make_dir(b("team"), 02770, 0, kTeam);
    // Without the group: denied, as on the backing file system.
    EXPECT_EQ(
        run_as(kNobody, kNogroup, [&] { return code(::open(m("team/f").c_str(), O_CREAT | O_WRONLY, 0644) >= 0); }),
        EACCES);
    // With it as a supplementary group: allowed; the setgid directory hands
    // its group down, and subdirectories inherit the setgid bit.
    int result = run_with_groups(kNobody, kNogroup, {kTeam}, [&] {
        if (::open(m("team/f").c_str(), O_CREAT | O_WRONLY, 0644) < 0) return 10;
        if (::mkdir(m("team/sub").c_str(), 0770) != 0) return 11;
        return 0;
    });
    ASSERT_EQ(result, 0);
    EXPECT_EQ(owner_of(b("team/f")).uid, kNobody);
    EXPECT_EQ(owner_of(b("team/f")).gid, kTeam);
    struct stat st {};
    ASSERT_EQ(::stat(b("team/sub").c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, kTeam);
    EXPECT_TRUE(st.st_mode & S_ISGID);
}

// Without default_permissions the kernel asks the daemon for access(2).
class AccessOpTest : public MountedTest {
protected:
    std::string mount_options() const override { return "allow_other,entry_timeout=0,attr_timeout=0"; }
};

TEST_F(AccessOpTest, AccessChecksModeBitsForTheCaller) {
    ASSERT_TRUE(write_file(b("mine"), "m", 0600));
    ASSERT_EQ(::chmod(b("mine").c_str(), 0640), 0);
    ASSERT_EQ(::chown(b("mine").c_str(), kNobody, 0), 0);
    ASSERT_TRUE(write_file(b("root"), "r", 0600));
    ASSERT_EQ(::chmod(b("root").c_str(), 0604), 0);
    EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return code(::access(m("mine").c_str(), R_OK | W_OK) == 0); }), 0);
    EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return code(::access(m("mine").c_str(), X_OK) == 0); }), EACCES);
    EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return code(::access(m("root").c_str(), R_OK) == 0); }), 0);
    EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return code(::access(m("root").c_str(), W_OK) == 0); }), EACCES);
    EXPECT_EQ(run_as(kNobody, kNogroup, [&] { return code(::access(m("none").c_str(), F_OK) == 0); }), ENOENT);
    EXPECT_EQ(::access(m("root").c_str(), W_OK), 0);
    EXPECT_EQ(::access(m("root").c_str(), X_OK), -1);
}

TEST_F(AccessTest, FlockConflictsBetweenProcesses) {
    ASSERT_TRUE(write_file(m("locked"), "l"));
    int fd = ::open(m("locked").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    auto try_lock = [&] {
        return run_in_child([&] {
            int cfd = ::open(m("locked").c_str(), O_RDWR);
            if (cfd < 0) return 200;
            return code(::flock(cfd, LOCK_EX | LOCK_NB) == 0);
        });
    };
    EXPECT_EQ(try_lock(), EWOULDBLOCK);
    ASSERT_EQ(::flock(fd, LOCK_UN), 0);
    EXPECT_EQ(try_lock(), 0);
    ::close(fd);
}

TEST_F(AccessTest, PosixLocksConflictBetweenProcesses) {
    ASSERT_TRUE(write_file(m("ranges"), std::string(1000, 'r')));
    int fd = ::open(m("ranges").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = 0;
    lock.l_len = 100;
    ASSERT_EQ(::fcntl(fd, F_SETLK, &lock), 0);
    pid_t parent = ::getpid();
    int result = run_in_child([&] {
        int cfd = ::open(m("ranges").c_str(), O_RDWR);
        if (cfd < 0) return 200;
        struct flock want {};
        want.l_type = F_WRLCK;
        want.l_whence = SEEK_SET;
        want.l_start = 50;
        want.l_len = 10;
        if (::fcntl(cfd, F_SETLK, &want) == 0) return 201;  // must conflict
        if (errno != EAGAIN && errno != EACCES) return 202;
        struct flock probe = want;
        if (::fcntl(cfd, F_GETLK, &probe) != 0) return 203;
        if (probe.l_type != F_WRLCK || probe.l_pid != parent) return 204;
        want.l_start = 200;  // a range nobody holds
        if (::fcntl(cfd, F_SETLK, &want) != 0) return 205;
        return 0;
    });
    EXPECT_EQ(result, 0);
    lock.l_type = F_UNLCK;
    ASSERT_EQ(::fcntl(fd, F_SETLK, &lock), 0);
    result = run_in_child([&] {
        int cfd = ::open(m("ranges").c_str(), O_RDWR);
        struct flock want {};
        want.l_type = F_WRLCK;
        want.l_whence = SEEK_SET;
        want.l_len = 100;
        return cfd >= 0 && ::fcntl(cfd, F_SETLK, &want) == 0 ? 0 : 1;
    });
    EXPECT_EQ(result, 0);
    ::close(fd);
}

}  // namespace
}  // namespace bcl::test
