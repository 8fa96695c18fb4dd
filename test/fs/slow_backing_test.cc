// End-to-end: bcachefs-lite in front of a slow, counting FUSE backing of
// our own (slow_backing/slowfs.cc), as in front of sshfs: the cache's own
// statistics list and read over a backing without extended attributes, a
// warm read makes no backing read, and the fixture's switches work.
#include <signal.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <thread>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

// The fixture daemon, mounted on `mnt` over `source`; unmounted and reaped
// on destruction.
class SlowBacking {
public:
    SlowBacking(const std::string& source, const std::string& mnt, const std::string& options) : mnt_(mnt) {
        const char* program = std::getenv("BCL_SLOWFS");
        if (!program || !*program) {
            error_ = "BCL_SLOWFS is not set (run the tests through meson test)";
            return;
        }
        pid_ = ::fork();
        if (pid_ == 0) {
            const std::string opts =
                "source=" + source + ",allow_other,max_threads=16" + (options.empty() ? "" : "," + options);
            ::execl(program, program, mnt.c_str(), "-f", "-o", opts.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        if (pid_ < 0 || !wait_for_mount(mnt, kMountTimeout, pid_, "fuse.bcl-slowfs")) error_ = "bcl-slowfs did not mount";
    }
    ~SlowBacking() {
        if (pid_ <= 0) return;
        if (is_mounted(mnt_, "fuse.bcl-slowfs")) unmount(mnt_);
        wait_or_kill(pid_, kExitTimeout);
    }
    SlowBacking(const SlowBacking&) = delete;
    SlowBacking& operator=(const SlowBacking&) = delete;

    const std::string& error() const { return error_; }
    // The requests of each kind so far.
    std::map<std::string, unsigned long> counters() const {
        std::map<std::string, unsigned long> out;
        std::istringstream in(read_file(mnt_ + "/.slowfs-counters").value_or(""));
        std::string line;
        while (std::getline(in, line)) {
            const auto eq = line.find('=');
            if (eq != std::string::npos) out[line.substr(0, eq)] = std::stoul(line.substr(eq + 1));
        }
        return out;
    }
    void cut_off() const { ::kill(pid_, SIGUSR1); }
    void bring_back() const { ::kill(pid_, SIGUSR2); }

private:
    std::string mnt_;
    pid_t pid_ = -1;
    std::string error_;
};

class SlowBackingTest : public testing::Test {
protected:
    // Mounts bcl-slowfs (with `slow_options`) on the backing directory of a
    // TestMount, over a real directory, then bcachefs-lite over it.
    void mount_both(const std::string& slow_options) {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        MountSpec spec;
        spec.options = "allow_other,entry_timeout=0,attr_timeout=0";
        mount_ = std::make_unique<TestMount>(spec, TestMount::Deferred{});
        ASSERT_TRUE(mount_->error().empty()) << mount_->error();
        real_ = mount_->base() + "/real";
        ASSERT_EQ(::mkdir(real_.c_str(), 0755), 0);
        ASSERT_TRUE(write_file(real_ + "/f", std::string(300000, 'x')));
        slow_ = std::make_unique<SlowBacking>(real_, mount_->backing(), slow_options);
        if (slow_->error().find("BCL_SLOWFS") != std::string::npos) GTEST_SKIP() << slow_->error();
        ASSERT_TRUE(slow_->error().empty()) << slow_->error();
        ASSERT_TRUE(mount_->start()) << mount_->error();
    }
    void TearDown() override {
        if (mount_) mount_->stop();
        slow_.reset();
        mount_.reset();
    }

    std::unique_ptr<TestMount> mount_;
    std::unique_ptr<SlowBacking> slow_;
    std::string real_;
};

TEST_F(SlowBackingTest, TheCachesStatisticsListAndReadOverABackingWithoutXattrs) {
    mount_both("noxattr");
    // The backing itself has none.
    EXPECT_LT(::listxattr(mount_->backing().c_str(), nullptr, 0), 0);
    EXPECT_EQ(errno, ENOTSUP);
    auto names = list_xattrs(mount_->mnt());
    ASSERT_TRUE(names.has_value()) << std::strerror(errno);
    EXPECT_NE(std::find(names->begin(), names->end(), attr("stats")), names->end());
    EXPECT_TRUE(get_xattr(mount_->mnt(), attr("stats")).has_value());
    // As a user would list them.
    RunResult r = run_program({"getfattr", "-d", "-m", "user.bcachefs_lite", mount_->mnt()});
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_NE(r.err.find("user.bcachefs_lite.stats"), std::string::npos) << r.err;
    // A file's own attributes: none, and no error.
    auto file_names = list_xattrs(mount_->m("f"));
    ASSERT_TRUE(file_names.has_value());
}

TEST_F(SlowBackingTest, AWarmReadMakesNoBackingRead) {
    mount_both("latency_us=200");
    ASSERT_EQ(read_file(mount_->m("f"))->size(), 300000u);
    const unsigned long reads = slow_->counters()["read"];
    EXPECT_GT(reads, 0u);
    ASSERT_EQ(read_file(mount_->m("f"))->size(), 300000u);
    EXPECT_EQ(slow_->counters()["read"], reads) << "the second read was served from the cache";
}

// True once `condition` holds (a switch is a signal, which the fixture
// handles when it gets to it), within 10 s.
bool wait_until(const std::function<bool()>& condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

TEST_F(SlowBackingTest, TheFixtureCutsOffAndComesBack) {
    mount_both("");
    const std::string f = mount_->backing() + "/f";
    slow_->cut_off();
    EXPECT_TRUE(wait_until([&] { return !read_file(f).has_value() && errno == ENOTCONN; }));
    slow_->bring_back();
    EXPECT_TRUE(wait_until([&] { return read_file(f).has_value(); }));
    EXPECT_EQ(read_file(f).value_or("").size(), 300000u);
    EXPECT_GT(slow_->counters()["open"], 0u);
}

}  // namespace
}  // namespace bcl::test
