// Fixture of the cache engine's tests: a temporary backing directory, a
// cache file formatted with small buckets, an index directory, and a
// CacheSet in manual background mode that the test drives step by step.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/cache/fsck.h"
#include "bcachefs_lite/device/faulty_device.h"
#include "bcachefs_lite/device/file_device.h"
#include "bcachefs_lite/device/format.h"
#include "common/temp_dir.h"

namespace bcl::test {

inline constexpr std::uint32_t kTestBucketSize = 64 << 10;
inline constexpr std::uint32_t kTestBlockSize = 4096;

// A backing file open read-write, closed on destruction.
class BackingFile {
public:
    explicit BackingFile(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_CLOEXEC)) {}
    ~BackingFile() {
        if (fd_ >= 0) ::close(fd_);
    }
    BackingFile(const BackingFile&) = delete;
    BackingFile& operator=(const BackingFile&) = delete;
    int fd() const { return fd_; }
    struct statx stx() const {
        struct statx s {};
        EXPECT_EQ(::statx(fd_, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &s), 0);
        return s;
    }

private:
    int fd_;
};

// A file opened through the engine: the backing descriptor plus the
// engine's shared state, released on destruction.
struct EngineFile {
    EngineFile(CacheSet& set, const std::string& path) : set(set), backing(path) {
        EXPECT_GE(backing.fd(), 0) << path;
        auto f = set.open_file(backing.fd(), backing.stx());
        EXPECT_TRUE(f) << (f ? "" : f.error().message);
        if (f) state = std::move(f).value();
    }
    ~EngineFile() {
        if (state) set.release_file(state);
    }
    EngineFile(const EngineFile&) = delete;
    EngineFile& operator=(const EngineFile&) = delete;

    // Reads through the engine; the bytes returned.
    std::string read(std::uint64_t offset, std::size_t len) {
        std::string buf(len, '\0');
        auto n = set.read(*state, backing.fd(), offset, std::as_writable_bytes(std::span(buf.data(), buf.size())));
        EXPECT_TRUE(n) << (n ? "" : n.error().message);
        buf.resize(n ? n.value() : 0);
        return buf;
    }
    // Reads in requests of at most `chunk` bytes, letting the background
    // work run between them (the freelists of a small cache are short).
    std::string read_chunked(std::uint64_t offset, std::size_t len, std::size_t chunk = 65536) {
        std::string out;
        for (std::size_t done = 0; done < len;) {
            const std::size_t n = std::min(chunk, len - done);
            std::string part = read(offset + done, n);
            out += part;
            set.run_background_until_idle();
            if (part.size() < n) break;
            done += n;
        }
        return out;
    }
    void write(std::uint64_t offset, const std::string& data) {
        auto n = set.write(*state, backing.fd(), offset, std::as_bytes(std::span(data.data(), data.size())));
        ASSERT_TRUE(n) << n.error().message;
        EXPECT_EQ(n.value(), data.size());
    }

    CacheSet& set;
    BackingFile backing;
    std::shared_ptr<CachedFile> state;
};

// Sets the cache devices' error tunables alone, as the io_errors knobs do
// at run time: a limit the count has already reached takes the cache out
// of service at its next error.
inline void set_io_errors(CacheSet& set, const IoErrorTunables& io_errors) {
    Tunables t = set.tunables();
    t.io_errors = io_errors;
    ASSERT_TRUE(set.set_tunables(t));
}

// What pread of the backing file returns.
inline std::string backing_read(const std::string& path, std::uint64_t offset, std::size_t len) {
    std::string buf(len, '\0');
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    std::size_t done = 0;
    while (done < len) {
        const ssize_t n = ::pread(fd, buf.data() + done, len - done, static_cast<off_t>(offset + done));
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    buf.resize(done);
    return buf;
}

// Spins until CLOCK_REALTIME_COARSE, from which file systems stamp mtime
// and ctime, is past `t` (a few clock ticks at most; bounded at 5 s). A
// change made after it returns stamps a time different from `t`.
inline bool clock_past(const struct statx_timestamp& t) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
        struct timespec now {};
        ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
        if (now.tv_sec > t.tv_sec || (now.tv_sec == t.tv_sec && now.tv_nsec > static_cast<long>(t.tv_nsec)))
            return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
    }
}

inline bool same_time(const struct statx_timestamp& a, const struct statx_timestamp& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

inline std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
}

inline void write_whole(const std::string& path, const std::string& data) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ASSERT_EQ(::close(fd), 0);
}

// fsck of `devices` against the index in `dir`, as bcachefs-lite-ctl fsck
// runs it: the index opened read-only unless `repair`.
inline Result<FsckReport> fsck_over(std::span<CacheDevice* const> devices, const std::string& dir, bool repair) {
    IndexOptions io;
    io.read_only = !repair;
    auto index = Index::open(dir, io);
    if (!index) return index.error();
    FsckOptions options;
    options.repair = repair;
    return run_fsck(devices, *index.value(), options);
}

class CacheTest : public testing::Test {
protected:
    void SetUp() override {
        backing_ = dir_.file("backing");
        ASSERT_EQ(::mkdir(backing_.c_str(), 0755), 0);
        cache_path_ = dir_.file("cache.img");
        index_dir_ = dir_.file("index");
    }
    void TearDown() override {
        if (set_) {
            auto st = set_->close();
            EXPECT_TRUE(st) << st.error().message;
            set_.reset();
        }
        if (root_fd_ >= 0) ::close(root_fd_);
        root_fd_ = -1;
    }

    // Opens the backing root into root_fd_ as a mount holds it (O_PATH):
    // writeback and pin resumption find files by handle through it. Closed
    // at TearDown, after the set. False when it cannot be opened.
    bool open_backing_root() {
        if (root_fd_ < 0) root_fd_ = ::open(backing_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        return root_fd_ >= 0;
    }

    // Formats the cache file with `buckets` data buckets of kTestBucketSize.
    void format_cache(std::uint64_t buckets) {
        FormatOptions fo;
        fo.bucket_size = kTestBucketSize;
        fo.block_size = kTestBlockSize;
        fo.size = (first_bucket_for(kTestBucketSize) + buckets) * kTestBucketSize;
        auto sb = format_device(cache_path_, fo);
        ASSERT_TRUE(sb) << sb.error().message;
    }

    CacheSetOptions options() const {
        CacheSetOptions o;
        o.cache_paths = {cache_path_};
        o.index_dir = index_dir_;
        o.manual_background = true;
        o.gc_interval = std::chrono::milliseconds(0);
        o.gc_batch = 64;
        // Sequential bypass and congestion off: the tests of other things
        // read and write large files in one run and must not depend on how
        // fast the device is; sequential_bypass_test.cc turns them on.
        o.tunables.bypass =
            BypassTunables{.sequential_cutoff = 0, .congested_read_threshold_us = 0, .congested_write_threshold_us = 0};
        // Every read checks the backing file first: the tests of changes
        // behind the cache's back see them at once; coherency_window_test.cc
        // opens the window.
        o.tunables.actimeo = 0;
        return o;
    }

    void open_set(CacheSetOptions o) {
        auto set = CacheSet::open(std::move(o), log_);
        ASSERT_TRUE(set) << set.error().message;
        set_ = std::move(set).value();
    }
    void open_set() { open_set(options()); }

    void reopen_set() {
        ASSERT_TRUE(set_);
        auto st = set_->close();
        ASSERT_TRUE(st) << st.error().message;
        set_.reset();
        open_set();
    }

    // In a forked child that simulates a power loss: opens a set with `o`
    // over the cache file seen through a FaultyDevice, which `dev` points to
    // before the open (hooks may use it), so the child can crash() it. Ends
    // the child with status 2 or 3 when that fails.
    std::unique_ptr<CacheSet> open_faulty_in_child(CacheSetOptions o, FaultyDevice*& dev, Logger& log) const {
        auto file_dev = FileDevice::open(cache_path_);
        if (!file_dev) ::_exit(2);
        auto faulty = std::make_unique<FaultyDevice>(std::move(file_dev).value());
        dev = faulty.get();
        o.devices.push_back(std::move(faulty));
        auto set = CacheSet::open(std::move(o), log);
        if (!set) ::_exit(3);
        return std::move(set).value();
    }

    std::string path(const std::string& name) const { return backing_ + "/" + name; }

    static struct statx stat_path(const std::string& p) {
        struct statx s {};
        EXPECT_EQ(::statx(AT_FDCWD, p.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &s), 0) << p;
        return s;
    }
    // Pins (or unpins) the file or directory `p`, as its xattr does.
    Status pin(const std::string& p, bool on) {
        const int fd = ::open(p.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
        EXPECT_GE(fd, 0) << p;
        Status st = set_->pins().set_pinned(fd, stat_path(p), on);
        ::close(fd);
        return st;
    }

    // Reads other files worth three times a cache of `buckets`, with GC
    // passes, so that every bucket that can be reused is.
    void fill_with_other_files(std::uint64_t buckets) {
        const std::size_t file_size = 256 << 10;
        const std::size_t nfiles = 3 * buckets * kTestBucketSize / file_size;
        for (std::size_t i = 0; i < nfiles; ++i) {
            const std::string name = path("other" + std::to_string(i));
            write_whole(name, random_bytes(rng_, file_size));
            EngineFile f(*set_, name);
            ASSERT_EQ(f.read_chunked(0, file_size).size(), file_size);
            if (i % 4 == 3) {
                ASSERT_TRUE(set_->run_gc());
                set_->run_background_until_idle();
            }
        }
        ASSERT_TRUE(set_->run_gc());
    }

    TempDir dir_;
    Logger log_{LogLevel::warn};
    std::string backing_, cache_path_, index_dir_;
    int root_fd_ = -1;  // see open_backing_root()
    std::unique_ptr<CacheSet> set_;
    std::mt19937_64 rng_{12345};
};

}  // namespace bcl::test
