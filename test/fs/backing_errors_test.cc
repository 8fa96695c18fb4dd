// End-to-end: a backing directory that fails. Each test puts the backing
// directory on a small file system it makes itself (a tmpfs, a bind mount,
// ext4 on a loop device) and removes again, then makes that file system
// refuse the daemon:
//   full (ENOSPC: tmpfs) and over quota (EDQUOT: btrfs): the write that does not fit fails
//     with that errno in every cache mode, and the cache never holds what
//     the backing file refused;
//   remounted read-only (EROFS): every change fails with EROFS, reads keep
//     working; dirty data that cannot be written back stays dirty, the
//     writeback backs off instead of spinning, and finishes once the
//     backing is writable again;
//   a device that fails (EIO): reads the backing must serve fail with EIO;
//     data the cache holds is still served;
//   frozen (fsfreeze: writes and syncs hang): a writeback that hangs takes
//     the link down past backing_timeout, the allocators keep refilling
//     meanwhile, and the writeback finishes once the backing is thawed;
//   gone (lazily unmounted, or the directory removed): every operation
//     answers within a bounded time, the daemon lives on and unmounts
//     cleanly.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache_e2e.h"
#include "image_loop.h"

namespace bcl::test {
namespace {

namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kChunk = 64 * 1024;

std::uint64_t round_up_block(std::uint64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }

// The backing file system of a test: mounted on a directory, unmounted
// (and its loop device detached) on destruction.
class ScratchFs {
public:
    ScratchFs() = default;
    ScratchFs(const ScratchFs&) = delete;
    ScratchFs& operator=(const ScratchFs&) = delete;
    ~ScratchFs() { remove(); }

    // mount(2) of `source` as `type` with `data` on `dir`; empty on
    // success, else why not.
    std::string mount(const std::string& source, const std::string& dir, const std::string& type,
                      const std::string& data) {
        if (::mount(source.c_str(), dir.c_str(), type.c_str(), 0, data.c_str()) != 0)
            return "mount -t " + type + " -o " + data + " " + dir + ": " + std::strerror(errno);
        dir_ = dir;
        return {};
    }

    // A bind mount of `dir` on itself, which can be made read-only alone.
    std::string bind(const std::string& dir) {
        if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0)
            return "mount --bind " + dir + ": " + std::strerror(errno);
        dir_ = dir;
        return {};
    }

    // A file system of `size` made by `mkfs` (its command line, to which
    // the image is appended) in the image file `image`, on a loop device,
    // mounted on `dir` as `type` with `options`.
    std::string on_loop(const std::string& image, const std::string& size, std::vector<std::string> mkfs,
                        const std::string& dir, const std::string& type, const std::string& options) {
        RunResult r = run_program({"truncate", "-s", size, image});
        if (!r.exited_with(0)) return "truncate: " + r.err;
        mkfs.push_back(image);
        r = run_program(mkfs);
        if (!r.exited_with(0)) return mkfs[0] + ": " + r.err;
        loop_ = std::make_unique<ImageLoop>(image);
        if (loop_->device().empty()) return "losetup: " + loop_->error();
        return mount(loop_->device(), dir, type, options);
    }

    // Cuts the image short under the mounted file system and makes the
    // loop device and the kernel see it: what lies past `size` now fails.
    std::string cut_image(const std::string& size) {
        if (std::string err = loop_->shrink(size); !err.empty()) return err;
        ::sync();
        return drop_caches();
    }

    static std::string drop_caches() {
        int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
        if (fd < 0) return std::string("/proc/sys/vm/drop_caches: ") + std::strerror(errno);
        const bool ok = ::write(fd, "3", 1) == 1;
        ::close(fd);
        return ok ? std::string() : std::string("drop_caches: ") + std::strerror(errno);
    }

    // remount,bind,ro or rw of the bind mount; EBUSY (a writer still holds
    // the file system) is retried for a bounded time.
    int set_read_only(bool ro) {
        const unsigned long flags = MS_REMOUNT | MS_BIND | (ro ? MS_RDONLY : 0);
        const auto deadline = Clock::now() + kExitTimeout;
        for (;;) {
            if (::mount(nullptr, dir_.c_str(), nullptr, flags, nullptr) == 0) return 0;
            if (errno != EBUSY || Clock::now() >= deadline) return errno;
            std::this_thread::yield();
        }
    }

    // umount -l: the file system leaves the tree, alive while in use.
    bool detach() {
        if (::umount2(dir_.c_str(), MNT_DETACH) != 0) return false;
        dir_.clear();
        return true;
    }

    void remove() {
        if (!dir_.empty() && ::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
        dir_.clear();
        loop_.reset();
    }

private:
    std::string dir_;
    std::unique_ptr<ImageLoop> loop_;
};

// The fixture: the daemon's backing directory (base/b/src) on a file
// system the test sets up before the daemon starts.
class BackingFsTest : public testing::Test {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    }
    void TearDown() override {
        // The daemon goes first, then the file system under it.
        if (mount_) mount_->stop();
        fs_.reset();
        mount_.reset();
    }

    MountSpec spec(const std::string& mode) const {
        MountSpec s;
        s.options = "allow_other,default_permissions,actimeo=0,mode=" + mode;
        if (mode == "writeback") s.options += ",writeback_running=0";
        return s;
    }

    // Prepares the mount; the backing file system is set up by `make` on
    // base/b, then base/b/src is made there and the daemon started.
    void start(const MountSpec& s, const std::function<std::string(ScratchFs&, TestMount&)>& make) {
        mount_ = std::make_unique<TestMount>(s, TestMount::Deferred{});
        fs_ = std::make_unique<ScratchFs>();
        std::string err = make(*fs_, *mount_);
        ASSERT_TRUE(err.empty()) << err;
        std::error_code ec;
        stdfs::create_directories(mount_->backing(), ec);
        ::chmod(mount_->backing().c_str(), 0755);
        ASSERT_TRUE(mount_->start()) << mount_->error();
    }
    std::string base_b() const { return mount_->base() + "/b"; }

    TestMount& t() { return *mount_; }
    std::string b(const std::string& rel) { return mount_->b(rel); }
    std::string m(const std::string& rel) { return mount_->m(rel); }

    // The daemon is still running (not exited, not crashed).
    bool daemon_alive() {
        return mount_->daemon_pid() > 0 && !wait_exit(mount_->daemon_pid(), std::chrono::milliseconds(0));
    }

    // Unmounts and checks that the daemon exited with status 0.
    void expect_clean_stop() {
        std::optional<int> status = mount_->stop();
        ASSERT_TRUE(status.has_value());
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status << "; daemon log:\n"
                                                                     << mount_->daemon_log();
    }

    std::unique_ptr<TestMount> mount_;
    std::unique_ptr<ScratchFs> fs_;
};

// Writes `data` through a new descriptor of `path` in kChunk pieces until
// one fails; how much was written and the errno of the failure (0 if none).
struct Filled {
    std::size_t written = 0;
    int err = 0;
};
Filled write_until_error(const std::string& path, const std::string& data) {
    Filled out;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        out.err = errno;
        return out;
    }
    while (out.written < data.size()) {
        const std::size_t len = std::min(kChunk, data.size() - out.written);
        const ssize_t n = ::pwrite(fd, data.data() + out.written, len, static_cast<off_t>(out.written));
        if (n < 0) {
            out.err = errno;
            break;
        }
        out.written += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return out;
}

// The errno `call` fails with (0 when it succeeds), run in a child that is
// killed when it takes longer than kExitTimeout (then -1: it hung).
int errno_of(const std::function<int()>& call) {
    return run_in_child([&] { return call() == 0 ? 0 : errno; });
}

// ---- full and over quota ----

class BackingFullTest : public BackingFsTest, public testing::WithParamInterface<std::string> {
protected:
    // Fills the backing file system through the mount with file `f` and
    // checks what a refused write must leave behind; `expected_err` is the
    // errno the refused write must fail with; `free_space` makes room again.
    void fill_and_check(int expected_err, const std::function<void()>& free_space) {
        const std::string mode = GetParam();
        std::mt19937_64 rng(7);
        const std::string data = random_bytes(rng, 8u << 20);
        Filled filled = write_until_error(m("f"), data);
        ASSERT_EQ(filled.err, expected_err)
            << std::strerror(filled.err) << " after " << filled.written << " bytes; daemon log:\n"
            << t().daemon_log();
        ASSERT_LT(filled.written, data.size());
        const std::string accepted = data.substr(0, filled.written);
        // What the caller was told was written is in the file; nothing the
        // backing refused is cached.
        if (mode != "writeback") {
            EXPECT_TRUE(read_file(b("f")) == accepted) << "the backing file differs from what was written";
        }
        if (mode != "none") {
            EXPECT_LE(cached_bytes(m("f")).value_or(UINT64_MAX), round_up_block(filled.written));
        }
        int err = 0;
        auto got = read_whole(m("f"), false, &err);
        ASSERT_TRUE(got.has_value()) << std::strerror(err);
        EXPECT_EQ(got->size(), accepted.size());
        EXPECT_TRUE(*got == accepted) << "the mount reads other bytes than were written";

        // With room again, the refused range is written and read back, and
        // reaches the backing file.
        free_space();
        const int fd = ::open(m("f").c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0) << std::strerror(errno);
        const std::size_t len = std::min<std::size_t>(kChunk, data.size() - filled.written);
        EXPECT_EQ(::pwrite(fd, data.data() + filled.written, len, static_cast<off_t>(filled.written)),
                  static_cast<ssize_t>(len))
            << std::strerror(errno);
        ::close(fd);
        const std::string now = data.substr(0, filled.written + len);
        got = read_whole(m("f"), true, &err);
        ASSERT_TRUE(got.has_value()) << std::strerror(err);
        EXPECT_TRUE(*got == now) << "the mount reads other bytes than were written";
        if (mode == "writeback") {
            RunResult r = run_flush_command(t().mnt());
            EXPECT_TRUE(r.exited_with(0)) << r.err << "daemon log:\n" << t().daemon_log();
        }
        EXPECT_TRUE(read_file(b("f")) == now) << "the backing file differs from what was written";
        EXPECT_TRUE(daemon_alive());
    }
};

TEST_P(BackingFullTest, AWriteThatDoesNotFitFailsWithEnospcAndIsNotCached) {
    start(spec(GetParam()),
          [this](ScratchFs& fs, TestMount&) { return fs.mount("tmpfs", base_b(), "tmpfs", "size=2m"); });
    if (HasFatalFailure()) return;
    // A file outside the mount takes half the room; removing it makes room.
    ASSERT_TRUE(write_file(base_b() + "/filler", std::string(1u << 20, 'x')));
    fill_and_check(ENOSPC, [&] { ASSERT_EQ(::unlink((base_b() + "/filler").c_str()), 0); });
}

TEST_P(BackingFullTest, AWriteOverTheQuotaFailsWithEdquotAndIsNotCached) {
    // This kernel's tmpfs and ext4 have no quotas (CONFIG_TMPFS_QUOTA,
    // CONFIG_QFMT_V2); btrfs's qgroup limits bind root as well.
    if (run_program({"mkfs.btrfs", "--version"}).exit_code() != 0) GTEST_SKIP() << "mkfs.btrfs is not installed";
    MountSpec s = spec(GetParam());
    // The daemon runs without CAP_SYS_RESOURCE, as an unprivileged user's
    // would: quota limits that root may pass do not bind it either.
    s.launcher = {"setpriv", "--bounding-set=-sys_resource", "--inh-caps=-sys_resource", "--"};
    start(s, [&](ScratchFs& fs, TestMount& tm) {
        std::string err =
            fs.on_loop(tm.base() + "/btrfs.img", "128M", {"mkfs.btrfs", "-q", "-f"}, base_b(), "btrfs", "");
        if (!err.empty()) return err;
        for (const auto& cmd : {std::vector<std::string>{"btrfs", "quota", "enable", base_b()},
                                std::vector<std::string>{"btrfs", "qgroup", "limit", "2M", base_b()}}) {
            RunResult r = run_program(cmd);
            if (!r.exited_with(0)) return cmd[0] + " " + cmd[1] + " " + cmd[2] + ": " + r.err;
        }
        return std::string();
    });
    if (HasFatalFailure()) return;
    ASSERT_TRUE(write_file(base_b() + "/filler", std::string(1u << 20, 'x')));
    fill_and_check(EDQUOT, [&] {
        ASSERT_EQ(::unlink((base_b() + "/filler").c_str()), 0);
        // The qgroup gives the space back when the transaction commits.
        ::sync();
    });
}

INSTANTIATE_TEST_SUITE_P(Modes, BackingFullTest, testing::Values("writethrough", "writearound", "none", "writeback"),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

// ---- read-only ----

class BackingReadOnlyTest : public BackingFsTest {
protected:
    void start_bound(const std::string& mode) {
        start(spec(mode), [](ScratchFs& fs, TestMount& tm) {
            std::error_code ec;
            stdfs::create_directories(tm.backing(), ec);
            return fs.bind(tm.backing());
        });
    }

    // Every change through the mount fails with EROFS.
    void expect_changes_refused(const std::string& existing) {
        const std::string f = m(existing);
        EXPECT_EQ(errno_of([&] { return ::open(f.c_str(), O_WRONLY | O_CLOEXEC) >= 0 ? 0 : -1; }), EROFS);
        EXPECT_EQ(
            errno_of([&] { return ::open(m("new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644) >= 0 ? 0 : -1; }),
            EROFS);
        EXPECT_EQ(errno_of([&] { return ::truncate(f.c_str(), 1); }), EROFS);
        EXPECT_EQ(errno_of([&] { return ::chmod(f.c_str(), 0600); }), EROFS);
        EXPECT_EQ(errno_of([&] { return ::utimensat(AT_FDCWD, f.c_str(), nullptr, 0); }), EROFS);
        EXPECT_EQ(errno_of([&] { return ::setxattr(f.c_str(), "user.test", "1", 1, 0); }), EROFS);
        EXPECT_EQ(errno_of([&] { return ::mkdir(m("dir").c_str(), 0755); }), EROFS);
        EXPECT_EQ(errno_of([&] { return ::unlink(f.c_str()); }), EROFS);
        EXPECT_EQ(errno_of([&] { return ::rename(f.c_str(), m("renamed").c_str()); }), EROFS);
    }
};

TEST_F(BackingReadOnlyTest, ChangesFailWithErofsAndReadsKeepWorking) {
    start_bound("writethrough");
    if (HasFatalFailure()) return;
    std::mt19937_64 rng(11);
    const std::string cached = random_bytes(rng, 256 * 1024), uncached = random_bytes(rng, 256 * 1024);
    ASSERT_TRUE(write_file(b("cached"), cached));
    ASSERT_TRUE(write_file(b("uncached"), uncached));
    ASSERT_TRUE(read_whole(m("cached")) == cached);
    ASSERT_EQ(cached_bytes(m("cached")), cached.size());

    ASSERT_EQ(fs_->set_read_only(true), 0) << std::strerror(errno);
    expect_changes_refused("cached");
    for (bool direct : {false, true}) {
        EXPECT_TRUE(read_whole(m("cached"), direct) == cached) << "direct " << direct;
        EXPECT_TRUE(read_whole(m("uncached"), direct) == uncached) << "direct " << direct;
    }
    EXPECT_TRUE(daemon_alive());

    ASSERT_EQ(fs_->set_read_only(false), 0);
    ASSERT_TRUE(write_file(m("cached"), uncached));
    EXPECT_TRUE(read_file(b("cached")) == uncached);
    EXPECT_TRUE(read_whole(m("cached"), true) == uncached);
}

// The lines the daemon logged for writeback steps that failed.
std::size_t writeback_failures(TestMount& tm) {
    const std::string log = tm.daemon_log();
    std::size_t count = 0;
    for (std::size_t at = log.find("writeback of cache file"); at != std::string::npos;
         at = log.find("writeback of cache file", at + 1))
        ++count;
    return count;
}

// Waits (bounded) until the daemon logged at least `n` failed writeback
// steps; true when it did.
bool wait_for_failures(TestMount& tm, std::size_t n, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (writeback_failures(tm) < n) {
        if (Clock::now() >= deadline) return false;
        // The daemon's log has no notification: poll it gently.
        struct timespec pause {
            0, 20'000'000
        };
        ::nanosleep(&pause, nullptr);
    }
    return true;
}

TEST_F(BackingReadOnlyTest, DirtyDataStaysDirtyAndWritebackBacksOffUntilTheBackingIsWritable) {
    start_bound("writeback");
    if (HasFatalFailure()) return;
    std::mt19937_64 rng(13);
    const std::string data = random_bytes(rng, 512 * 1024);
    ASSERT_TRUE(write_file(m("d"), data));
    ASSERT_GT(dirty_bytes(m("d")).value_or(0), 0u);
    ASSERT_FALSE(read_file(b("d")) == data);

    ASSERT_EQ(fs_->set_read_only(true), 0) << std::strerror(errno);
    expect_changes_refused("d");
    // A flush now fails on every file; it must not retry at full speed.
    ASSERT_EQ(set_xattr(t().mnt(), attr("flush"), "1"), 0);
    ASSERT_TRUE(wait_for_failures(t(), 1, kExitTimeout)) << t().daemon_log();
    const auto first = Clock::now();
    ASSERT_TRUE(wait_for_failures(t(), 2, kExitTimeout)) << t().daemon_log();
    const auto between = Clock::now() - first;
    EXPECT_GE(between, std::chrono::milliseconds(500)) << "writeback retried at once";
    EXPECT_LE(writeback_failures(t()), 3u) << t().daemon_log();
    EXPECT_NE(t().daemon_log().find("Read-only file system"), std::string::npos) << t().daemon_log();
    // Nothing was lost: the data is still dirty and reads back.
    EXPECT_EQ(dirty_bytes(m("d")), data.size());
    EXPECT_TRUE(read_whole(m("d"), true) == data);
    EXPECT_FALSE(read_file(b("d")) == data) << "written back to a read-only file system";
    EXPECT_TRUE(daemon_alive());

    // An unmount meanwhile keeps the dirty data for the next mount.
    expect_clean_stop();
    ASSERT_EQ(fs_->set_read_only(false), 0);
    ASSERT_TRUE(t().start()) << t().error();
    EXPECT_EQ(dirty_bytes(m("d")), data.size());
    EXPECT_TRUE(read_whole(m("d"), true) == data);
    // Writable again: a flush completes.
    RunResult r = run_flush_command(t().mnt());
    EXPECT_TRUE(r.exited_with(0)) << r.err << "daemon log:\n" << t().daemon_log();
    EXPECT_EQ(dirty_bytes(m("d")), 0u);
    EXPECT_TRUE(read_file(b("d")) == data) << "the backing file differs after the flush";
    expect_clean_stop();
}

// ---- a failing device ----

using BackingIoErrorTest = BackingFsTest;

TEST_F(BackingIoErrorTest, ReadsTheBackingMustServeFailWithEioAndCachedDataIsStillServed) {
    if (run_program({"mkfs.ext4", "-V"}).exit_code() != 0) GTEST_SKIP() << "mkfs.ext4 is not installed";
    std::mt19937_64 rng(17);
    const std::string cached = random_bytes(rng, 1u << 20), uncached = random_bytes(rng, 1u << 20);
    start(spec("writethrough"), [&](ScratchFs& fs, TestMount& tm) {
        std::string err = fs.on_loop(tm.base() + "/ext4.img", "64M",
                                     {"mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"},
                                     base_b(), "ext4", "errors=continue");
        if (!err.empty()) return err;
        std::error_code ec;
        stdfs::create_directories(tm.backing(), ec);
        // The files lie far into the image, past where it will be cut.
        if (!write_file(base_b() + "/spacer", std::string(16u << 20, 's')) || !write_file(tm.b("cached"), cached) ||
            !write_file(tm.b("uncached"), uncached))
            return std::string("cannot write the files on ext4");
        ::sync();
        return std::string();
    });
    if (HasFatalFailure()) return;
    ASSERT_TRUE(read_whole(m("cached")) == cached);
    ASSERT_EQ(cached_bytes(m("cached")), cached.size());
    // Both files are looked up (their inodes stay in memory) before the
    // device goes bad; only their data is lost.
    struct stat st {};
    ASSERT_EQ(::stat(m("uncached").c_str(), &st), 0);

    const std::string err = fs_->cut_image("8M");
    ASSERT_TRUE(err.empty()) << err;
    int read_err = 0;
    EXPECT_FALSE(read_whole(m("uncached"), false, &read_err).has_value());
    EXPECT_EQ(read_err, EIO) << std::strerror(read_err);
    read_err = 0;
    EXPECT_FALSE(read_whole(m("uncached"), true, &read_err).has_value());
    EXPECT_EQ(read_err, EIO) << std::strerror(read_err);
    // The cache holds every byte of this one and the backing file says it
    // is unchanged: it is served, as a hit never needs the backing data.
    auto got = read_whole(m("cached"), true, &read_err);
    EXPECT_TRUE(got.has_value()) << std::strerror(read_err);
    EXPECT_TRUE(got == cached);
    // A write that must reach the failing device fails, at the latest when
    // it is to be made durable.
    const int fsync_err = errno_of([&] {
        int fd = ::open(m("new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return -1;
        std::string block(1u << 20, 'n');
        if (::write(fd, block.data(), block.size()) < 0) return -1;
        return ::fsync(fd);
    });
    // ext4 answers EIO, or EROFS once the failed write aborted its journal
    // (which makes it read-only whatever errors= says): either reaches the
    // caller as it is.
    EXPECT_TRUE(fsync_err == EIO || fsync_err == EROFS) << std::strerror(fsync_err);
    EXPECT_TRUE(daemon_alive());
    expect_clean_stop();
}

// ---- a backing that hangs ----
//
// ext4 frozen (fsfreeze): reads still answer, writes and syncs wait until
// it is thawed, as on a network file system whose server stopped
// answering. Writeback waits with them.

// Freezes the file system mounted on `dir` while it lives: thawed when
// destroyed, or after 20 s should the test be stuck, so that nothing stays
// frozen.
class Frozen {
public:
    explicit Frozen(const std::string& dir) : dir_(dir) {
        const RunResult r = run_program({"fsfreeze", "-f", dir});
        if (!r.exited_with(0)) {
            error_ = "fsfreeze -f " + dir + ": " + r.err;
            return;
        }
        frozen_ = true;
        watchdog_ = std::thread([this] {
            std::unique_lock lk(mutex_);
            if (!done_cv_.wait_for(lk, std::chrono::seconds(20), [this] { return done_; })) thaw_locked();
        });
    }
    ~Frozen() {
        {
            std::lock_guard lk(mutex_);
            done_ = true;
            thaw_locked();
        }
        done_cv_.notify_all();
        if (watchdog_.joinable()) watchdog_.join();
    }
    Frozen(const Frozen&) = delete;
    Frozen& operator=(const Frozen&) = delete;

    const std::string& error() const { return error_; }
    void thaw() {
        std::lock_guard lk(mutex_);
        thaw_locked();
    }

private:
    void thaw_locked() {
        if (frozen_ && run_program({"fsfreeze", "-u", dir_}).exited_with(0)) frozen_ = false;
    }

    const std::string dir_;
    std::string error_;
    std::mutex mutex_;
    std::condition_variable done_cv_;
    bool frozen_ = false;  // guarded by mutex_
    bool done_ = false;    // guarded by mutex_
    std::thread watchdog_;
};

// Whether a thread of process `pid` waits in uninterruptible sleep (state
// D), as one does on a write to a frozen file system.
bool a_thread_waits_on_disk(pid_t pid) {
    std::error_code ec;
    for (const auto& task : stdfs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        const std::string stat = read_file(task.path().string() + "/stat").value_or("");
        // "tid (comm) S ...": the state follows the comm's closing parenthesis.
        const std::size_t paren = stat.rfind(')');
        if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'D') return true;
    }
    return false;
}

class BackingFrozenTest : public BackingFsTest {
protected:
    // Writeback over ext4 on a loop device, with `options` added; `data`
    // written through the mount as dirty data of file d.
    void start_ext4_writeback(const std::string& options, const std::string& data) {
        if (run_program({"mkfs.ext4", "-V"}).exit_code() != 0) GTEST_SKIP() << "mkfs.ext4 is not installed";
        MountSpec s = spec("writeback");
        s.options += "," + options;
        start(s, [&](ScratchFs& fs, TestMount& tm) {
            return fs.on_loop(tm.base() + "/ext4.img", "64M",
                              {"mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"}, base_b(),
                              "ext4", "");
        });
        if (HasFatalFailure()) return;
        ASSERT_TRUE(write_file(m("d"), data));
        ASSERT_EQ(dirty_bytes(m("d")), data.size());
    }
};

// A writeback that hangs on the backing is a call in flight like a
// foreground one: past backing_timeout it takes the link down (the check
// runs on a strand of its own), the mount answers without joining it, and
// once the backing answers the writeback finishes.
TEST_F(BackingFrozenTest, AWritebackThatHangsTakesTheLinkDownAndFinishesOnceTheBackingAnswers) {
    std::mt19937_64 rng(29);
    const std::string data = random_bytes(rng, 512 * 1024);
    start_ext4_writeback("backing_timeout=1", data);
    if (HasFatalFailure() || IsSkipped()) return;
    Frozen frozen(base_b());
    ASSERT_TRUE(frozen.error().empty()) << frozen.error();
    ASSERT_EQ(set_xattr(t().mnt(), attr("flush"), "1"), 0);
    ASSERT_TRUE(wait_until([&] {
        return t().daemon_log().find("backing directory not answering: a call has waited") != std::string::npos;
    })) << t().daemon_log();
    const Stats hung = Stats::read(t().mnt());
    ASSERT_TRUE(hung.ok()) << hung.error();
    EXPECT_EQ(hung["backing_offline"], 1u);
    EXPECT_EQ(hung["dirty_data"], data.size()) << "nothing was written back";
    // A write waits for nothing: it fails at once.
    const int fd = ::open(m("d").c_str(), O_WRONLY | O_CLOEXEC);
    EXPECT_EQ(fd, -1) << "opened for writing while the backing hangs";
    EXPECT_EQ(errno, ETIMEDOUT) << std::strerror(errno);
    if (fd >= 0) ::close(fd);

    frozen.thaw();
    EXPECT_TRUE(wait_until([&] { return Stats::read(t().mnt())["dirty_data"] == 0; })) << t().daemon_log();
    EXPECT_TRUE(read_file(b("d")) == data) << "the backing file differs after the writeback";
    EXPECT_TRUE(wait_until([&] { return Stats::read(t().mnt())["backing_offline"] == 0; }));
    expect_clean_stop();
}

// While writeback waits on the backing, the allocators keep refilling
// their freelists: a read of more than they hold is inserted whole.
TEST_F(BackingFrozenTest, WhileWritebackHangsTheAllocatorsStillRefill) {
    std::mt19937_64 rng(31);
    const std::string data = random_bytes(rng, 512 * 1024);
    start_ext4_writeback("backing_timeout=0", data);
    if (HasFatalFailure() || IsSkipped()) return;
    const std::string other = random_bytes(rng, 8u << 20);
    ASSERT_TRUE(write_file(b("u"), other));
    const Stats before = Stats::read(t().mnt());
    ASSERT_TRUE(before.ok()) << before.error();
    Frozen frozen(base_b());
    ASSERT_TRUE(frozen.error().empty()) << frozen.error();
    ASSERT_EQ(set_xattr(t().mnt(), attr("flush"), "1"), 0);
    ASSERT_TRUE(wait_until([&] { return a_thread_waits_on_disk(t().daemon_pid()); })) << "writeback did not hang";
    // Reads answer from a frozen file system; the daemon inserts what they
    // miss, 16 times what the freelists of this cache hold.
    EXPECT_TRUE(read_whole(m("u"), true) == other);
    const Stats after = Stats::read(t().mnt());
    EXPECT_EQ(after["insert_no_space"], before["insert_no_space"]);
    EXPECT_EQ(cached_bytes(m("u")), other.size());
    EXPECT_EQ(after["dirty_data"], data.size()) << "the writeback still waits";
    frozen.thaw();
    EXPECT_TRUE(wait_until([&] { return Stats::read(t().mnt())["dirty_data"] == 0; })) << t().daemon_log();
    expect_clean_stop();
}

// ---- gone ----

class BackingGoneTest : public BackingFsTest, public testing::WithParamInterface<std::string> {};

TEST_P(BackingGoneTest, ALazilyUnmountedBackingKeepsAnsweringAndUnmountsCleanly) {
    start(spec(GetParam()),
          [this](ScratchFs& fs, TestMount&) { return fs.mount("tmpfs", base_b(), "tmpfs", "size=16m"); });
    if (HasFatalFailure()) return;
    ASSERT_TRUE(write_file(m("f"), "before"));
    ASSERT_TRUE(fs_->detach());
    // The daemon's descriptors keep the file system alive, out of the tree.
    EXPECT_EQ(errno_of([&] { return read_file(m("f")) == "before" ? 0 : (errno = EIO, -1); }), 0);
    EXPECT_EQ(errno_of([&] { return write_file(m("g"), "after") ? 0 : -1; }), 0);
    EXPECT_EQ(errno_of([&] { return read_file(m("g")) == "after" ? 0 : (errno = EIO, -1); }), 0);
    EXPECT_TRUE(daemon_alive());
    expect_clean_stop();
}

TEST_P(BackingGoneTest, ARemovedBackingDirectoryGivesErrorsAndUnmountsCleanly) {
    start(spec(GetParam()),
          [this](ScratchFs& fs, TestMount&) { return fs.mount("tmpfs", base_b(), "tmpfs", "size=16m"); });
    if (HasFatalFailure()) return;
    ASSERT_TRUE(write_file(m("f"), "data"));
    ASSERT_EQ(::mkdir(m("sub").c_str(), 0755), 0);
    const int fd = ::open(m("f").c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    std::error_code ec;
    stdfs::remove_all(t().backing(), ec);
    ASSERT_FALSE(ec) << ec.message();

    // Every answer comes (a hang makes errno_of return -1).
    EXPECT_EQ(errno_of([&] { return ::access(m("f").c_str(), F_OK); }), ENOENT);
    EXPECT_EQ(errno_of([&] { return ::open(m("new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644) >= 0 ? 0 : -1; }),
              ENOENT);
    EXPECT_EQ(errno_of([&] { return ::mkdir(m("sub/x").c_str(), 0755); }), ENOENT);
    EXPECT_GE(errno_of([&] {
                  struct stat st {};
                  return ::stat(t().mnt().c_str(), &st);
              }),
              0);
    EXPECT_GE(errno_of([&] {
                  DIR* dir = ::opendir(t().mnt().c_str());
                  if (!dir) return -1;
                  while (::readdir(dir)) {
                  }
                  ::closedir(dir);
                  return 0;
              }),
              0);
    // The open file was unlinked with its directory: it still reads and
    // writes, as any unlinked open file does.
    char buf[4] = {};
    EXPECT_EQ(::pread(fd, buf, sizeof buf, 0), 4) << std::strerror(errno);
    EXPECT_EQ(std::string(buf, 4), "data");
    EXPECT_EQ(::pwrite(fd, "more", 4, 4), 4) << std::strerror(errno);
    EXPECT_EQ(::fsync(fd), 0) << std::strerror(errno);
    ::close(fd);
    EXPECT_TRUE(stat_xattr(t().mnt(), "cache_hits").has_value());
    EXPECT_TRUE(daemon_alive());
    expect_clean_stop();
}

INSTANTIATE_TEST_SUITE_P(Modes, BackingGoneTest, testing::Values("writethrough", "writeback"),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace bcl::test
