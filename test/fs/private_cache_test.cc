// End-to-end: the cache's own files are private. A cache file and an index
// that a mount creates are 0600 and 0700 whatever the umask, and format
// makes a file it formats 0600. A mount refuses, in one line that says how
// to fix it, a cache file or index that another user owns or that others
// may read, unless allow_insecure_cache is given; the refusal mounts
// nothing and changes neither the cache nor the index.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache_e2e.h"
#include "image_loop.h"

namespace bcl::test {
namespace {

mode_t mode_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
}

class PrivateCacheTest : public testing::Test {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
        MountSpec spec;
        spec.options = "allow_other";
        mount_ = std::make_unique<TestMount>(spec, TestMount::Deferred{});
        ASSERT_TRUE(mount_->error().empty()) << mount_->error();
        ASSERT_TRUE(write_file(t().b("f"), "data"));
    }
    void TearDown() override { mount_.reset(); }

    TestMount& t() { return *mount_; }

    // Mounts once (creating the cache and the index), reads a file, and
    // unmounts cleanly.
    void use_once() {
        ASSERT_TRUE(t().start()) << t().error();
        EXPECT_EQ(read_file(t().m("f")), "data");
        std::optional<int> status = t().stop();
        ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << t().daemon_log();
    }

    // Runs the daemon as mount(8) would with t()'s options plus `extra`,
    // and checks a one-line refusal naming every needle.
    void expect_refused(const std::vector<std::string>& needles) {
        const FileSum cache_before = file_sum(t().cache_path());
        const std::string index_before = tree_listing(t().index_path());
        RunResult r = run_program({daemon_path(), t().backing(), t().mnt(), "-o", t().option_string()});
        SCOPED_TRACE("stderr: " + r.err);
        EXPECT_GT(r.exit_code(), 0) << "wait status " << r.status;
        EXPECT_EQ(r.err.rfind("bcachefs-lite: ", 0), 0u);
        EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "exactly one line";
        for (const std::string& needle : needles) EXPECT_NE(r.err.find(needle), std::string::npos) << needle;
        if (is_mounted(t().mnt())) {
            ADD_FAILURE() << "mounted although refused";
            unmount(t().mnt());
        }
        EXPECT_EQ(file_sum(t().cache_path()), cache_before) << "the cache file changed";
        EXPECT_EQ(tree_listing(t().index_path()), index_before) << "the index changed";
    }

    void expect_accepted_with_allow_insecure_cache() {
        MountSpec spec = t().spec();
        const MountSpec strict = spec;
        spec.options += ",allow_insecure_cache";
        t().set_spec(spec);
        use_once();
        t().set_spec(strict);
    }

    std::unique_ptr<TestMount> mount_;
};

TEST_F(PrivateCacheTest, ANewCacheFileAndIndexArePrivateWhateverTheUmask) {
    const mode_t old = ::umask(0);
    use_once();
    ::umask(old);
    EXPECT_EQ(mode_of(t().cache_path()), 0600u);
    EXPECT_EQ(mode_of(t().index_path()), 0700u);
}

TEST_F(PrivateCacheTest, FormatMakesTheFileItFormatsPrivate) {
    const std::string fresh = t().base() + "/fresh.img";
    const mode_t old = ::umask(0);
    ASSERT_EQ(format_cache(fresh, "64M"), "");
    ::umask(old);
    EXPECT_EQ(mode_of(fresh), 0600u);
    // An existing, empty file that anyone may read.
    const std::string existing = t().base() + "/existing.img";
    ASSERT_TRUE(write_file(existing, "", 0644));
    ASSERT_EQ(::chmod(existing.c_str(), 0644), 0);
    ASSERT_EQ(format_cache(existing, "64M"), "");
    EXPECT_EQ(mode_of(existing), 0600u);
}

TEST_F(PrivateCacheTest, ACacheFileOthersMayReadIsRefused) {
    use_once();
    for (mode_t mode : {0644u, 0660u, 0602u}) {
        SCOPED_TRACE(mode);
        ASSERT_EQ(::chmod(t().cache_path().c_str(), mode), 0);
        expect_refused({t().cache_path(), "chmod 600", "allow_insecure_cache"});
    }
    expect_accepted_with_allow_insecure_cache();
    ASSERT_EQ(::chmod(t().cache_path().c_str(), 0600), 0);
    use_once();
}

TEST_F(PrivateCacheTest, ACacheFileOfAnotherUserIsRefused) {
    use_once();
    ASSERT_EQ(::chown(t().cache_path().c_str(), kNobody, kNogroup), 0);
    expect_refused({t().cache_path(), "uid 65534", "chown"});
    expect_accepted_with_allow_insecure_cache();
}

TEST_F(PrivateCacheTest, AnIndexOthersMayEnterIsRefused) {
    use_once();
    ASSERT_EQ(::chmod(t().index_path().c_str(), 0755), 0);
    expect_refused({t().index_path(), "chmod 700", "allow_insecure_cache"});
    expect_accepted_with_allow_insecure_cache();
    ASSERT_EQ(::chmod(t().index_path().c_str(), 0700), 0);
    use_once();
}

// A block device: its group (disk) may read it, every user may not. The
// cache path is a symbolic link to the loop device, as /dev/disk/by-id
// names are.
TEST_F(PrivateCacheTest, ABlockDeviceEveryUserMayReadIsRefused) {
    if (std::string why = ImageLoop::skip_reason(); !why.empty()) GTEST_SKIP() << why;
    const std::string image = t().base() + "/loop.img";
    ASSERT_EQ(make_sparse_file(image, 64u << 20), "");
    ImageLoop loop(image);
    ASSERT_FALSE(loop.device().empty()) << loop.error();
    RunResult formatted = run_program({ctl_path(), "format", loop.device()});
    ASSERT_EQ(formatted.exit_code(), 0) << formatted.err;
    ASSERT_EQ(::symlink(loop.device().c_str(), t().cache_path().c_str()), 0);
    MountSpec spec = t().spec();
    spec.cache_size = "";
    t().set_spec(spec);
    // The device node outlives the test: its mode is put back on every path.
    struct RestoreMode {
        std::string path;
        mode_t mode;
        ~RestoreMode() { ::chmod(path.c_str(), mode); }
    } restore{loop.device(), mode_of(loop.device())};
    ASSERT_EQ(::chmod(loop.device().c_str(), 0666), 0);
    expect_refused({t().cache_path(), "chmod o-rw", "allow_insecure_cache"});
    // Readable by its group alone, as udev makes it: mounted.
    ASSERT_EQ(::chmod(loop.device().c_str(), 0660), 0);
    use_once();
}

}  // namespace
}  // namespace bcl::test
