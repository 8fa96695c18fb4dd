// The end-to-end tests' stand-in for a network backing: the bcl-slowfs
// fixture daemon (slow_backing/slowfs.cc) mounted over a real directory,
// and a fixture that mounts bcachefs-lite over it.
//
// Thread safety: for use from one test thread.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "cache_e2e.h"

namespace bcl::test {

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
        if (pid_ < 0 || !wait_for_mount(mnt, kMountTimeout, pid_, "fuse.bcl-slowfs"))
            error_ = "bcl-slowfs did not mount";
    }
    ~SlowBacking() {
        if (pid_ <= 0) return;
        // Stalled requests would hold the unmount.
        bring_back();
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
    // Brings back from cut_off() and from stall().
    void bring_back() const { ::kill(pid_, SIGUSR2); }
    // Every request but the counters' read waits, unanswered, until
    // bring_back(): a backing that hangs.
    void stall() const { ::kill(pid_, SIGURG); }

private:
    std::string mnt_;
    pid_t pid_ = -1;
    std::string error_;
};

class SlowBackingTest : public testing::Test {
protected:
    // Mounts bcl-slowfs (with `slow_options`) on the backing directory of a
    // TestMount, over a real directory, then bcachefs-lite over it.
    // `options` are added to bcachefs-lite's.
    void mount_both(const std::string& slow_options, const std::string& options = "") {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        MountSpec spec;
        spec.options = "allow_other,entry_timeout=0,attr_timeout=0" + (options.empty() ? "" : "," + options);
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
        // A stalled backing would hold the unmount of the cache's mount.
        if (slow_) slow_->bring_back();
        if (mount_) mount_->stop();
        slow_.reset();
        mount_.reset();
    }

    std::unique_ptr<TestMount> mount_;
    std::unique_ptr<SlowBacking> slow_;
    std::string real_;
};

}  // namespace bcl::test
