// End-to-end: no local user reaches through the mount what the backing
// directory would refuse them, and every user may do what it allows.
// A root-made mount with `allow_other` alone, and with
// `allow_other,default_permissions`, in every cache mode: the user nobody
// runs the same operations on the mount and on a twin of the backing tree
// (same files, owners, modes and ACLs, on the same file system, used
// directly), once with a cold cache (misses) and once after root has read
// every file through the mount (hits; in writeback, dirty data too). Each
// operation must give the same result on both. The cache's own files and
// its settings are checked as nobody too.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

// 0 when the call succeeded, else its errno.
int code(bool succeeded) { return succeeded ? 0 : errno; }

int read_all(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return errno;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    int err = n < 0 ? errno : 0;
    ::close(fd);
    return err;
}

int write_at(const std::string& path, int flags, const std::string& data, off_t off) {
    int fd = ::open(path.c_str(), O_WRONLY | flags);
    if (fd < 0) return errno;
    ssize_t n =
        (flags & O_APPEND) ? ::write(fd, data.data(), data.size()) : ::pwrite(fd, data.data(), data.size(), off);
    int err = n < 0 ? errno : 0;
    if (err == 0 && ::fsync(fd) != 0) err = errno;
    ::close(fd);
    return err;
}

int list_dir(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());
    if (!dir) return errno;
    errno = 0;
    while (::readdir(dir)) {
    }
    int err = errno;
    ::closedir(dir);
    return err;
}

// A POSIX access ACL in the kernel's xattr format: the owner rw, the user
// `denied` nothing, group and others read.
std::string acl_denying(uid_t denied) {
    struct Entry {
        std::uint16_t tag, perm;
        std::uint32_t id;
    };
    const Entry entries[] = {{0x01, 6, ~0u}, {0x02, 0, denied}, {0x04, 4, ~0u}, {0x10, 4, ~0u}, {0x20, 4, ~0u}};
    std::string out(4, '\0');
    const std::uint32_t version = 2;
    std::memcpy(out.data(), &version, 4);
    out.append(reinterpret_cast<const char*>(entries), sizeof entries);
    return out;
}

struct Op {
    std::string name;
    std::function<int(const std::string& root)> run;  // 0 or errno
    // What the backing must refuse (checks that the test is not vacuous).
    bool refused = false;
};

// Operations as the user nobody, relative to a tree laid out by lay_out().
// Those that succeed leave the tree as it was, so that a second pass meets
// the same tree.
std::vector<Op> operations(bool with_acl) {
    auto p = [](const std::string& root, const char* rel) { return root + "/" + rel; };
    std::vector<Op> ops = {
        {"read secret", [=](const std::string& r) { return read_all(p(r, "secret")); }, true},
        {"open secret for writing", [=](const std::string& r) { return write_at(p(r, "secret"), 0, "X", 0); }, true},
        {"append to secret", [=](const std::string& r) { return write_at(p(r, "secret"), O_APPEND, "INJECTED\n", 0); },
         true},
        {"truncate secret", [=](const std::string& r) { return code(::truncate(p(r, "secret").c_str(), 0) == 0); },
         true},
        {"chmod secret", [=](const std::string& r) { return code(::chmod(p(r, "secret").c_str(), 0666) == 0); }, true},
        {"chown secret",
         [=](const std::string& r) { return code(::chown(p(r, "secret").c_str(), kNobody, kNogroup) == 0); }, true},
        {"utimes secret",
         [=](const std::string& r) {
             struct timeval tv[2] = {{1000, 0}, {1000, 0}};
             return code(::utimes(p(r, "secret").c_str(), tv) == 0);
         },
         true},
        {"setxattr secret",
         [=](const std::string& r) { return code(::setxattr(p(r, "secret").c_str(), "user.tag", "w", 1, 0) == 0); },
         true},
        {"getxattr secret",
         [=](const std::string& r) {
             char v[16];
             return code(::getxattr(p(r, "secret").c_str(), "user.tag", v, sizeof v) >= 0);
         },
         true},
        {"removexattr secret",
         [=](const std::string& r) { return code(::removexattr(p(r, "secret").c_str(), "user.tag") == 0); }, true},
        {"access secret R_OK", [=](const std::string& r) { return code(::access(p(r, "secret").c_str(), R_OK) == 0); },
         true},
        {"unlink closed/file", [=](const std::string& r) { return code(::unlink(p(r, "closed/file").c_str()) == 0); },
         true},
        {"rename closed/file",
         [=](const std::string& r) {
             return code(::rename(p(r, "closed/file").c_str(), p(r, "closed/moved").c_str()) == 0);
         },
         true},
        {"symlink in closed",
         [=](const std::string& r) { return code(::symlink("x", p(r, "closed/sym").c_str()) == 0); }, true},
        {"mkdir in closed", [=](const std::string& r) { return code(::mkdir(p(r, "closed/d").c_str(), 0755) == 0); },
         true},
        {"create in closed",
         [=](const std::string& r) {
             int fd = ::open(p(r, "closed/new").c_str(), O_CREAT | O_WRONLY, 0644);
             if (fd < 0) return errno;
             ::close(fd);
             return 0;
         },
         true},
        {"unlink root's file in a sticky directory",
         [=](const std::string& r) { return code(::unlink(p(r, "pub/roots").c_str()) == 0); }, true},
        {"rename root's file in a sticky directory",
         [=](const std::string& r) {
             return code(::rename(p(r, "pub/roots").c_str(), p(r, "pub/taken").c_str()) == 0);
         },
         true},
        {"hard link to secret",
         [=](const std::string& r) { return code(::link(p(r, "secret").c_str(), p(r, "pub/hard").c_str()) == 0); },
         true},
        {"stat in a private directory",
         [=](const std::string& r) {
             struct stat st;
             return code(::stat(p(r, "private/file").c_str(), &st) == 0);
         },
         true},
        {"list a private directory", [=](const std::string& r) { return list_dir(p(r, "private")); }, true},
        {"stat in a directory that may be listed but not searched",
         [=](const std::string& r) {
             struct stat st;
             return code(::stat(p(r, "listonly/f").c_str(), &st) == 0);
         },
         true},
        {"list a directory that may be listed but not searched",
         [=](const std::string& r) { return list_dir(p(r, "listonly")); }},
        {"write public", [=](const std::string& r) { return write_at(p(r, "public"), 0, "X", 0); }, true},
        {"read public", [=](const std::string& r) { return read_all(p(r, "public")); }},
        {"write root's world-writable file",
         [=](const std::string& r) { return write_at(p(r, "pub/roots"), 0, "r", 0); }},
        {"read own file", [=](const std::string& r) { return read_all(p(r, "pub/mine")); }},
        {"write own file", [=](const std::string& r) { return write_at(p(r, "pub/mine"), 0, "m", 0); }},
        {"truncate own file", [=](const std::string& r) { return code(::truncate(p(r, "pub/mine").c_str(), 4) == 0); }},
        {"chmod own file", [=](const std::string& r) { return code(::chmod(p(r, "pub/mine").c_str(), 0600) == 0); }},
        {"utimes own file",
         [=](const std::string& r) { return code(::utimes(p(r, "pub/mine").c_str(), nullptr) == 0); }},
        {"rename own file and back",
         [=](const std::string& r) {
             if (::rename(p(r, "pub/mine").c_str(), p(r, "pub/mine2").c_str()) != 0) return errno;
             return code(::rename(p(r, "pub/mine2").c_str(), p(r, "pub/mine").c_str()) == 0);
         }},
        {"create and remove in a sticky directory",
         [=](const std::string& r) {
             if (::mkfifo(p(r, "pub/fifo").c_str(), 0600) != 0) return errno;
             return code(::unlink(p(r, "pub/fifo").c_str()) == 0);
         }},
    };
    if (with_acl) {
        // Mode 0644 lets everyone read; the ACL denies nobody: only the
        // backing, asked as the caller, knows.
        ops.push_back({"read a file whose ACL denies the caller",
                       [=](const std::string& r) { return read_all(p(r, "acl_denied")); }, true});
    }
    return ops;
}

void put(const std::string& path, const std::string& data, mode_t mode, uid_t uid = 0, gid_t gid = 0) {
    ASSERT_TRUE(write_file(path, data, mode)) << path;
    ASSERT_EQ(::chown(path.c_str(), uid, gid), 0) << path;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

void dir(const std::string& path, mode_t mode) {
    ASSERT_EQ(::mkdir(path.c_str(), mode), 0) << path;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

// The tree both roots hold. Returns whether the ACL file could be made
// (the file system has POSIX ACLs).
bool lay_out(const std::string& root) {
    put(root + "/secret", std::string(20000, 's'), 0600);
    put(root + "/public", std::string(20000, 'p'), 0644);
    dir(root + "/closed", 0755);
    put(root + "/closed/file", "c", 0644);
    dir(root + "/private", 0700);
    put(root + "/private/file", "p", 0644);
    dir(root + "/listonly", 0744);
    put(root + "/listonly/f", "l", 0644);
    dir(root + "/pub", 01777);
    put(root + "/pub/roots", "roots", 0666);
    put(root + "/pub/mine", "mine", 0600, kNobody, kNogroup);
    ::setxattr((root + "/secret").c_str(), "user.tag", "v", 1, 0);  // ENOTSUP alike on both
    put(root + "/acl_denied", "acl", 0644);
    const std::string acl = acl_denying(kNobody);
    return ::setxattr((root + "/acl_denied").c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0) == 0;
}

struct Config {
    const char* mode;
    const char* kernel_options;
};

class CallerPermissionsTest : public testing::TestWithParam<Config> {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        MountSpec spec;
        spec.options =
            std::string(GetParam().kernel_options) + ",entry_timeout=0,attr_timeout=0,mode=" + GetParam().mode;
        mount_ = std::make_unique<TestMount>(spec, TestMount::Deferred{});
        ASSERT_TRUE(mount_->error().empty()) << mount_->error();
        twin_ = mount_->base() + "/twin";
        ASSERT_EQ(::mkdir(twin_.c_str(), 0755), 0);
        ASSERT_EQ(::chmod(mount_->backing().c_str(), 0755), 0);
        with_acl_ = lay_out(mount_->backing());
        ASSERT_EQ(lay_out(twin_), with_acl_);
        ASSERT_TRUE(mount_->start()) << mount_->error();
    }
    void TearDown() override { mount_.reset(); }

    // Runs every operation as nobody on the twin and on the mount; checks
    // that they agree and that the backing refused what it must.
    void expect_same_as_backing(const std::string& pass) {
        const std::vector<Op> ops = operations(with_acl_);
        const std::size_t bytes = 2 * ops.size() * sizeof(int);
        void* shared = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ASSERT_NE(shared, MAP_FAILED);
        int* results = static_cast<int*>(shared);
        for (std::size_t i = 0; i < 2 * ops.size(); ++i) results[i] = -1;
        const std::string mnt = mount_->mnt();
        ASSERT_EQ(run_as(kNobody, kNogroup,
                         [&] {
                             for (std::size_t i = 0; i < ops.size(); ++i) {
                                 results[2 * i] = ops[i].run(twin_);
                                 results[2 * i + 1] = ops[i].run(mnt);
                             }
                             return 0;
                         }),
                  0);
        for (std::size_t i = 0; i < ops.size(); ++i) {
            const int backing = results[2 * i];
            const int through_mount = results[2 * i + 1];
            EXPECT_EQ(through_mount, backing)
                << pass << ": " << ops[i].name << ": the mount gave '" << std::strerror(through_mount)
                << "', the backing '" << std::strerror(backing) << "'";
            if (ops[i].refused) {
                EXPECT_NE(backing, 0) << pass << ": the backing allowed " << ops[i].name;
            }
        }
        ::munmap(shared, bytes);
    }

    // As root, through the mount: reads every file nobody may not read, so
    // the cache holds it; in writeback, writes to secret (dirty data).
    void warm_cache() {
        for (const char* rel :
             {"secret", "public", "closed/file", "private/file", "listonly/f", "pub/roots", "pub/mine", "acl_denied"}) {
            ASSERT_TRUE(read_file(mount_->m(rel)).has_value()) << rel;
        }
        if (std::string(GetParam().mode) == "writeback") {
            ASSERT_EQ(write_at(mount_->m("secret"), 0, "dirty", 100), 0);
            ASSERT_EQ(write_at(twin_ + "/secret", 0, "dirty", 100), 0);
        }
        if (std::string(GetParam().mode) != "none") {
            auto cached = cached_bytes(mount_->m("secret"));
            ASSERT_TRUE(cached.has_value());
            EXPECT_GT(*cached, 0u) << "secret should be served from the cache";
        }
    }

    std::unique_ptr<TestMount> mount_;
    std::string twin_;
    bool with_acl_ = false;
};

TEST_P(CallerPermissionsTest, NobodyMayDoExactlyWhatTheBackingAllows) {
    expect_same_as_backing("cold cache");
    warm_cache();
    expect_same_as_backing("warm cache");
    // Nothing nobody tried reached root's data.
    EXPECT_EQ(read_file(mount_->b("secret"))->find("INJECTED"), std::string::npos);
}

TEST_P(CallerPermissionsTest, TheCachesOwnFilesAndSettingsAreRoots) {
    warm_cache();
    const std::string cache = mount_->cache_path();
    const std::string index = mount_->index_path();
    const std::string mnt = mount_->mnt();
    struct stat st {};
    if (std::string(GetParam().mode) != "none") {
        ASSERT_EQ(::stat(cache.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0600u);
        ASSERT_EQ(::stat(index.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0700u);
    }
    const int result = run_as(kNobody, kNogroup, [&] {
        if (::access(cache.c_str(), F_OK) == 0 && read_all(cache) != EACCES) return 10;
        if (::access(index.c_str(), F_OK) == 0 && list_dir(index) != EACCES) return 11;
        if (::access(index.c_str(), F_OK) == 0 && read_all(index + "/CURRENT") != EACCES) return 12;
        // A setting on the mount root: root's alone.
        if (::setxattr(mnt.c_str(), attr("writeback_percent").c_str(), "20", 2, 0) == 0) return 13;
        // The statistics of a file nobody may not read.
        char v[64];
        if (::getxattr((mnt + "/secret").c_str(), attr("cached_bytes").c_str(), v, sizeof v) >= 0) return 14;
        // Listing the attributes of a file nobody may read works.
        if (::listxattr((mnt + "/public").c_str(), nullptr, 0) < 0) return 15;
        return 0;
    });
    EXPECT_EQ(result, 0);
}

std::string config_name(const testing::TestParamInfo<Config>& info) {
    std::string name = std::string(info.param.mode) + "_" + info.param.kernel_options;
    for (char& c : name) {
        if (c == ',') c = '_';
    }
    return name;
}

INSTANTIATE_TEST_SUITE_P(EveryModeAndKernelCheck, CallerPermissionsTest,
                         testing::Values(Config{"writethrough", "allow_other"}, Config{"writeback", "allow_other"},
                                         Config{"writearound", "allow_other"}, Config{"none", "allow_other"},
                                         Config{"writethrough", "allow_other,default_permissions"},
                                         Config{"writeback", "allow_other,default_permissions"},
                                         Config{"writearound", "allow_other,default_permissions"},
                                         Config{"none", "allow_other,default_permissions"}),
                         config_name);

}  // namespace
}  // namespace bcl::test
