// End-to-end: a cache set of two loop devices mounted with replicas=2 in
// writeback mode. One device fails in the middle of a workload of written
// and fsync'ed files (its image is cut to nothing and the loop device told,
// as failing_cache_test.cc does); every file whose write and fsync
// returned reads back through the mount and is in the backing directory
// after the unmount. A set whose device is lost while unmounted mounts with
// the other and `degraded`, which writes the dirty data back from there.
// Mount-option errors about sets are one line each and mount nothing. Needs root, /dev/fuse and two free loop devices;
// skips with the reason otherwise.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <random>
#include <sstream>

#include "cache_e2e.h"
#include "image_loop.h"

namespace bcl::test {
namespace {

constexpr std::uint64_t kImageBytes = 48 << 20;

class ReplicasE2eTest : public testing::Test {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        if (std::string why = ImageLoop::skip_reason(); !why.empty()) GTEST_SKIP() << why;
        ASSERT_FALSE(ctl_path().empty()) << "BCL_CTL is not set (run the tests through meson test)";
        for (int i = 0; i < 2; ++i) {
            const std::string image = images_.path() + "/cache" + std::to_string(i) + ".img";
            ASSERT_EQ(make_sparse_file(image, kImageBytes), "");
            loops_[i] = std::make_unique<ImageLoop>(image);
            if (loops_[i]->device().empty()) GTEST_SKIP() << "no loop device: " << loops_[i]->error();
        }
        RunResult f =
            run_program({ctl_path(), "format", loops_[0]->device(), loops_[1]->device(), "--bucket-size", "64k"});
        ASSERT_TRUE(f.exited_with(0)) << f.err;
    }
    void TearDown() override {
        mount_.reset();
        for (auto& l : loops_) l.reset();
    }
    std::string set_option() const { return "cache=" + loops_[0]->device() + ":" + loops_[1]->device(); }
    void mount(const std::string& options) {
        MountSpec spec;
        spec.options = "allow_other,default_permissions,entry_timeout=0,attr_timeout=0," + options;
        spec.cache_size.clear();
        mount_ = std::make_unique<TestMount>(spec);
        ASSERT_TRUE(mount_->mounted()) << mount_->error();
    }
    std::string state() { return get_xattr(mount_->mnt(), attr("state")).value_or("?"); }
    // Every acknowledged file reads back through the mount (O_DIRECT: from
    // the daemon, not the page cache).
    void expect_read_back(const std::map<std::string, std::string>& acked) {
        for (const auto& [name, data] : acked) {
            int err = 0;
            auto got = read_whole(mount_->m(name), /*direct=*/true, &err);
            EXPECT_TRUE(got.has_value()) << name << ": " << std::strerror(err);
            EXPECT_TRUE(got && *got == data) << name << " differs from what was acknowledged";
        }
    }
    // The line of device `dev` in the root's `devices` table (read again
    // while a GC pass counts the buckets: EAGAIN), or "".
    std::string device_line(unsigned dev) {
        std::optional<std::string> text;
        wait_until([&] {
            int err = 0;
            text = get_xattr(mount_->mnt(), attr("devices"), &err);
            return text.has_value() || err != EAGAIN;
        });
        std::istringstream lines(text.value_or(""));
        for (std::string line; std::getline(lines, line);)
            if (line.rfind(std::to_string(dev) + " ", 0) == 0) return line;
        return "";
    }
    // Writes `data` to a new file through the mount and fsyncs it; true
    // when both returned success (the data is acknowledged).
    bool write_synced(const std::string& rel, const std::string& data) {
        const int fd = ::open(mount_->m(rel).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return false;
        bool ok = ::pwrite(fd, data.data(), data.size(), 0) == static_cast<ssize_t>(data.size());
        ok = ::fsync(fd) == 0 && ok;
        ok = ::close(fd) == 0 && ok;
        return ok;
    }
    // The daemon run as mount.fuse3 would, expected to refuse in one line
    // naming `needle`, leaving nothing mounted.
    void expect_refused(const std::string& options, const std::string& needle) {
        TestMount prepared(MountSpec{}, TestMount::Deferred{});
        RunResult r = run_program(
            {daemon_path(), prepared.backing(), prepared.mnt(), "-o", options + ",index=" + prepared.index_path()});
        SCOPED_TRACE("-o " + options + "\nstderr: " + r.err);
        EXPECT_FALSE(r.timed_out);
        EXPECT_GT(r.exit_code(), 0) << "wait status " << r.status;
        ASSERT_FALSE(r.err.empty());
        EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "exactly one line";
        EXPECT_NE(r.err.find(needle), std::string::npos);
        if (is_mounted(prepared.mnt())) {
            ADD_FAILURE() << "mounted although refused";
            unmount(prepared.mnt());
        }
    }

    TempDir images_;
    std::unique_ptr<ImageLoop> loops_[2];
    std::unique_ptr<TestMount> mount_;
};

TEST_F(ReplicasE2eTest, ADeviceFailingLosesNoFsyncedWrite) {
    mount(set_option() + ",replicas=2,mode=writeback,io_error_limit=4");
    std::mt19937_64 rng(7);
    std::map<std::string, std::string> acked;
    constexpr int kFiles = 24;
    for (int i = 0; i < kFiles; ++i) {
        if (i == kFiles / 2) {
            // Dirty data is on both devices (writeback waits writeback_delay).
            auto dirty = stat_xattr(mount_->mnt(), "dirty_data");
            ASSERT_TRUE(dirty.has_value());
            EXPECT_GT(*dirty, 0u);
            ASSERT_EQ(loops_[0]->shrink("0"), "");
        }
        const std::string name = "f" + std::to_string(i);
        const std::string data = random_bytes(rng, 64 * 1024 + 4096 * (i % 5));
        if (write_synced(name, data)) acked[name] = data;
    }
    EXPECT_GE(acked.size(), static_cast<std::size_t>(kFiles / 2));
    // Meet the failure, if the writes did not: reads of the files.
    for (int round = 0; round < 20 && state() == "running"; ++round)
        for (const auto& [name, data] : acked) (void)read_whole(mount_->m(name), /*direct=*/true);
    ASSERT_TRUE(wait_until([&] { return state() == "passthrough"; })) << state() << "\n" << mount_->daemon_log();
    EXPECT_EQ(stat_xattr(mount_->mnt(), "dirty_data"), 0u) << mount_->daemon_log();
    expect_read_back(acked);
    // Which device it was, by name.
    const std::string cut = device_line(0);
    EXPECT_NE(cut.find("failed"), std::string::npos) << cut;
    EXPECT_NE(cut.find(loops_[0]->device()), std::string::npos) << cut;
    const std::string kept = device_line(1);
    EXPECT_EQ(kept.rfind("1    working  0 ", 0), 0u) << kept;
    EXPECT_NE(kept.find(loops_[1]->device()), std::string::npos) << kept;
    const std::string log = mount_->daemon_log();
    EXPECT_NE(log.find("all of its dirty data was written back"), std::string::npos) << log;
    auto status = mount_->stop();
    ASSERT_TRUE(status.has_value()) << "the daemon did not exit";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << mount_->daemon_log();
    for (const auto& [name, data] : acked)
        EXPECT_TRUE(read_file(mount_->b(name)) == data) << name << " is not in the backing directory";
}

TEST_F(ReplicasE2eTest, ADeviceLostWhileUnmountedIsMountedDegradedAndItsDirtyDataWrittenBack) {
    const std::string options = ",replicas=2,mode=writeback,writeback_delay=86400";
    mount(set_option() + options);
    std::mt19937_64 rng(11);
    std::map<std::string, std::string> acked;
    for (int i = 0; i < 8; ++i) {
        const std::string name = "f" + std::to_string(i);
        const std::string data = random_bytes(rng, 64 * 1024 + 4096 * i);
        ASSERT_TRUE(write_synced(name, data)) << name;
        acked[name] = data;
    }
    auto dirty = stat_xattr(mount_->mnt(), "dirty_data");
    ASSERT_TRUE(dirty.has_value());
    EXPECT_GT(*dirty, 0u);
    // A clean unmount writes nothing back by itself: the data is only on
    // the cache devices.
    auto stopped = mount_->stop();
    ASSERT_TRUE(stopped.has_value()) << "the daemon did not exit";
    std::size_t in_backing = 0;
    for (const auto& [name, data] : acked) in_backing += read_file(mount_->b(name)) == data;
    EXPECT_EQ(in_backing, 0u);

    const std::string only_first = "cache=" + loops_[0]->device() + options;
    loops_[1].reset();
    expect_refused(only_first, "degraded");
    MountSpec spec = mount_->spec();
    spec.options += ",cache=" + loops_[0]->device() + ",degraded";
    mount_->set_spec(spec);
    ASSERT_TRUE(mount_->start()) << mount_->error();
    ASSERT_TRUE(wait_until([&] { return state() == "passthrough"; })) << state() << "\n" << mount_->daemon_log();
    EXPECT_EQ(device_line(1).rfind("1    missing  0 ", 0), 0u) << device_line(1);
    EXPECT_NE(device_line(0).find("working"), std::string::npos) << device_line(0);
    EXPECT_EQ(stat_xattr(mount_->mnt(), "dirty_data"), 0u) << mount_->daemon_log();
    expect_read_back(acked);
    stopped = mount_->stop();
    ASSERT_TRUE(stopped.has_value()) << "the daemon did not exit";
    EXPECT_TRUE(WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << mount_->daemon_log();
    for (const auto& [name, data] : acked)
        EXPECT_TRUE(read_file(mount_->b(name)) == data) << name << " is not in the backing directory";
}

TEST_F(ReplicasE2eTest, SetErrorsAreOneLineAndMountNothing) {
    expect_refused("cache=" + loops_[0]->device(), "device 1 of it is not given");
    expect_refused(set_option() + ",replicas=3", "replicas");
    expect_refused("cache=" + loops_[0]->device() + ":" + loops_[0]->device(), "given twice");
    expect_refused("cache=" + loops_[0]->device() + "::" + loops_[1]->device(), "empty path");
}

}  // namespace
}  // namespace bcl::test
