// Helpers of the end-to-end tests of the cache engine behind the mount: the
// statistics a mount shows as extended attributes, files of random bytes,
// reads that reach the daemon (fresh opens without kernel_cache, O_DIRECT),
// checksums of files and directory trees (to prove that a refused mount
// changed nothing), and bcachefs-lite-ctl for formatting cache files.
//
// Thread safety: for use from one test thread; the read helpers may also be
// called from several threads at once.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <chrono>
#include <cstring>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "e2e_fixture.h"
#include "test_mount.h"

namespace bcl::test {

// The block size of the caches these tests make (the default).
inline constexpr std::size_t kBlock = 4096;

inline constexpr std::string_view kStatPrefix = "user.bcachefs_lite.";
// The full xattr name of statistic or knob `name`.
inline std::string attr(const std::string& name) { return std::string(kStatPrefix) + name; }

// The statistics every mount root offers, each as kStatPrefix + name.
const std::vector<std::string>& root_stat_names();

// getxattr(path, name): the value, or nullopt with *err set to errno.
std::optional<std::string> get_xattr(const std::string& path, const std::string& name, int* err = nullptr);
// listxattr(path): the names, or nullopt on error.
std::optional<std::vector<std::string>> list_xattrs(const std::string& path);

// setxattr(path, name, value): 0, or the errno it failed with.
int set_xattr(const std::string& path, const std::string& name, const std::string& value);

// A decimal statistic value; nullopt when `text` is not one.
std::optional<std::uint64_t> parse_stat(std::string_view text);

// One statistic of the mount at `mnt` (kStatPrefix + name on its root).
std::optional<std::uint64_t> stat_xattr(const std::string& mnt, const std::string& name);
// user.bcachefs_lite.cached_bytes of a file through the mount.
std::optional<std::uint64_t> cached_bytes(const std::string& path);
// user.bcachefs_lite.dirty_bytes of a file through the mount.
std::optional<std::uint64_t> dirty_bytes(const std::string& path);

// The first failure a test's worker threads meet; once one is recorded,
// stopped() tells all of them to stop.
class FirstFailure {
public:
    void fail(const std::string& what) {
        std::lock_guard lk(mutex_);
        if (what_.empty()) what_ = what;
        stop_ = true;
    }
    void stop() { stop_ = true; }
    bool stopped() const { return stop_; }
    std::string what() const {
        std::lock_guard lk(mutex_);
        return what_;
    }

private:
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::string what_;  // guarded by mutex_
};

// Polls `done` until it holds, at most `timeout`; true when it did. For
// conditions the daemon's background work brings about.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = kExitTimeout);

// Polls the statistic `name` of the mount at `mnt` until `done` holds for
// its value, at most `timeout`; true when it did.
bool wait_for_stat(const std::string& mnt, const std::string& name, const std::function<bool(std::uint64_t)>& done,
                   std::chrono::milliseconds timeout = kExitTimeout);

// A snapshot of the mount's statistics from user.bcachefs_lite.stats.
class Stats {
public:
    // Reads and parses the stats attribute of the mount root `mnt`; error()
    // says what was wrong with it.
    static Stats read(const std::string& mnt);
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    const std::string& text() const { return text_; }
    bool has(const std::string& name) const { return values_.count(name) != 0; }
    // The value of `name`; adds a test failure when it is absent.
    std::uint64_t operator[](const std::string& name) const;

private:
    std::string text_;
    std::string error_;
    std::map<std::string, std::uint64_t> values_;
};

// `size` random bytes.
std::string random_bytes(std::mt19937_64& rng, std::size_t size);

// Reads all of `path` through a new descriptor (as read_file), with
// O_DIRECT when `direct`; nullopt on error, with *err set to errno.
std::optional<std::string> read_whole(const std::string& path, bool direct = false, int* err = nullptr);
// pread of `len` bytes at `offset` of fd into an aligned buffer; nullopt on
// error (errno is kept).
std::optional<std::string> pread_aligned(int fd, std::uint64_t offset, std::size_t len);

// Size and CRC-32C of a file's bytes; size -1 when it cannot be read.
struct FileSum {
    long long size = -1;
    std::uint32_t crc = 0;
    bool operator==(const FileSum&) const = default;
};
FileSum file_sum(const std::string& path);
std::ostream& operator<<(std::ostream& out, const FileSum& sum);

// Every entry below `dir` (relative path, type, mode, size, mtime and, for
// regular files, the CRC-32C of the contents), one line each, sorted.
std::string tree_listing(const std::string& dir);

// Spins until CLOCK_REALTIME_COARSE, from which file systems stamp mtime
// and ctime, is past `t` (at most a few clock ticks). A file changed after
// this returns has timestamps different from `t`.
bool wait_for_clock_past(const struct timespec& t);

// Waits until no process holds a lock on `lock_file` (the index's RocksDB
// LOCK, held until the daemon closed its index), at most kExitTimeout;
// true when the lock was free or became free, or the file does not exist.
bool wait_for_lock_released(const std::string& lock_file);

// The built bcachefs-lite-ctl (BCL_CTL in the environment), or empty.
std::string ctl_path();
// bcachefs-lite-ctl format --size SIZE [--bucket-size BUCKET] PATH; empty
// on success, else its output.
std::string format_cache(const std::string& path, const std::string& size, const std::string& bucket_size = "");
// The UUID bcachefs-lite-ctl show prints for a formatted cache, or empty.
std::string cache_uuid(const std::string& path);
// bcachefs-lite-ctl flush MNT (at most a minute): what it printed and its
// exit status.
RunResult run_flush_command(const std::string& mnt);

// A mount like MountedTest's, started from a MountSpec: timeouts 0, the
// index inside the test's temporary directory.
class CacheMountTest : public testing::Test {
protected:
    virtual MountSpec mount_spec() const {
        MountSpec spec;
        spec.options = "allow_other,default_permissions,entry_timeout=0,attr_timeout=0";
        return spec;
    }

    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        mount_ = std::make_unique<TestMount>(mount_spec());
        ASSERT_TRUE(mount_->mounted()) << mount_->error();
    }
    void TearDown() override { mount_.reset(); }

    TestMount& t() { return *mount_; }
    std::string b(const std::string& rel) { return mount_->b(rel); }
    std::string m(const std::string& rel) { return mount_->m(rel); }
    Stats stats() { return Stats::read(mount_->mnt()); }

    // Writes `data` into the backing directory as `rel` (not through the
    // mount) and remembers it in expected_.
    void put_backing(const std::string& rel, const std::string& data) {
        ASSERT_TRUE(write_file(b(rel), data)) << rel;
        expected_[rel] = data;
    }

    // pwrite of `data` at `offset` into the backing file `rel` (not through
    // the mount, without truncating it), mirrored in expected_.
    void pwrite_backing(const std::string& rel, std::uint64_t offset, const std::string& data) {
        int fd = ::open(b(rel).c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0) << rel << ": " << std::strerror(errno);
        ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)),
                  static_cast<ssize_t>(data.size()));
        ASSERT_EQ(::close(fd), 0);
        std::string& shadow = expected_[rel];
        if (shadow.size() < offset + data.size()) shadow.resize(offset + data.size(), '\0');
        shadow.replace(offset, data.size(), data);
    }

    // Reads `rel` through the mount from a new descriptor each time,
    // buffered, then O_DIRECT, then buffered again (the contents may be
    // cached by then): every read must equal `want`.
    void expect_mount_reads(const std::string& rel, const std::string& want) {
        for (bool direct : {false, true, false}) {
            int err = 0;
            auto got = read_whole(m(rel), direct, &err);
            ASSERT_TRUE(got.has_value()) << std::strerror(err);
            EXPECT_EQ(got->size(), want.size()) << (direct ? "O_DIRECT" : "buffered");
            EXPECT_TRUE(*got == want) << (direct ? "O_DIRECT" : "buffered") << " read differs";
        }
    }

    // Reads every file of expected_ through the mount (a new descriptor
    // each) and compares it with what the backing directory holds.
    void expect_all_read_back(bool direct = false) {
        for (const auto& [rel, data] : expected_) {
            int err = 0;
            std::optional<std::string> got = read_whole(m(rel), direct, &err);
            ASSERT_TRUE(got.has_value()) << rel << ": " << std::strerror(err);
            EXPECT_EQ(got->size(), data.size()) << rel;
            EXPECT_TRUE(*got == data) << rel << " differs from the backing file";
        }
    }

    std::unique_ptr<TestMount> mount_;
    std::map<std::string, std::string> expected_;
};

}  // namespace bcl::test
