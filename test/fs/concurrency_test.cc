// End-to-end: many threads of random operations on a few shared files
// through a real mount, in each cache mode, checked against a model that is
// exact despite the concurrency. Each file has a reader-writer lock in the
// test: reads, writes and fsyncs of a thread stay in the thread's own byte
// range of the file and take it shared (so the daemon sees truly
// concurrent I/O on one file), while truncates, renames and unlink plus
// re-create take it exclusive and change the model. Every read is checked
// against the model as it goes. At the end every file is compared through
// the mount, the mount is taken down (writeback: mounted again and flushed,
// as its clean unmount keeps dirty data), the backing files are compared,
// and bcachefs-lite-ctl fsck must find the cache clean. The cache is small
// (32 MiB in 128 KiB buckets), so buckets are reused and GC runs.
//
// A mode with "+clone_fd" mounts with clone_fd: each FUSE worker thread
// then answers on a /dev/fuse descriptor of its own.
//
// BCL_CONCURRENCY_SEED=N repeats a run's choices (the threads' interleaving
// differs); the seed is printed with any failure. BCL_CONCURRENCY_MS=N runs
// each mode for N ms instead of 2.5 s.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

constexpr int kThreads = 6;
constexpr int kFiles = 3;
constexpr std::size_t kRegion = 64 << 10;  // each thread's range of each file
constexpr std::size_t kFileMax = kThreads * kRegion;
// How long each mode runs; BCL_CONCURRENCY_MS=N runs longer (a soak).
std::chrono::milliseconds run_time() {
    if (const char* s = std::getenv("BCL_CONCURRENCY_MS"))
        return std::chrono::milliseconds(std::strtoull(s, nullptr, 10));
    return std::chrono::milliseconds(2500);
}
const std::vector<std::string> kNames = {"a", "b", "c", "d", "e", "f"};

// A file of the model. `lock` is held shared for I/O inside a thread's own
// range and exclusive for what changes the file as a whole.
struct ModelFile {
    std::shared_mutex lock;
    std::string name;                    // changed under exclusive lock (and the names mutex)
    std::vector<char> bytes;             // kFileMax bytes; zero past `size`
    std::atomic<std::uint64_t> size{0};  // grows under shared lock, set under exclusive

    // What was done to the file, for the message of a failure: writes,
    // truncates and re-creates with the ranges they changed.
    struct Change {
        int thread;
        const char* what;
        std::uint64_t start, end;
    };
    std::mutex changes_mutex;
    std::vector<Change> changes;  // guarded by changes_mutex
    void note(int thread, const char* what, std::uint64_t start, std::uint64_t end) {
        std::lock_guard lk(changes_mutex);
        changes.push_back({thread, what, start, end});
    }
    // The changes that touched [start, end), the last `max` of them.
    std::string changes_touching(std::uint64_t start, std::uint64_t end, std::size_t max = 12) {
        std::lock_guard lk(changes_mutex);
        std::vector<std::string> lines;
        for (const Change& c : changes) {
            if (c.end > start && c.start < end) {
                lines.push_back(fmt::format("  thread {} {} [{}, {})", c.thread, c.what, c.start, c.end));
            }
        }
        std::string out;
        for (std::size_t i = lines.size() > max ? lines.size() - max : 0; i < lines.size(); ++i) out += lines[i] + "\n";
        return out;
    }
};

class ConcurrencyTest : public CacheMountTest, public testing::WithParamInterface<const char*> {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
        MountSpec spec = CacheMountTest::mount_spec();
        spec.options += ",mode=" + mode();
        if (clone_fd()) spec.options += ",clone_fd";
        if (is_writeback()) {
            // Writeback runs at once and hard, beside the foreground I/O.
            spec.options += ",writeback_delay=0,writeback_percent=0,writeback_rate_minimum=64M";
        }
        spec.cache_size = "";
        mount_ = std::make_unique<TestMount>(spec, TestMount::Deferred{});
        ASSERT_TRUE(mount_->error().empty()) << mount_->error();
        ASSERT_EQ(format_cache(t().cache_path(), "32M", "128k"), "");
        ASSERT_TRUE(t().start()) << t().error();
    }

    std::string mode() const {
        const std::string p = GetParam();
        return p.substr(0, p.find('+'));
    }
    bool clone_fd() const { return std::string(GetParam()).ends_with("+clone_fd"); }
    bool is_writeback() const { return mode() == "writeback"; }

    // How many descriptors of /dev/fuse the daemon holds.
    int fuse_fds() const {
        const std::string dir = fmt::format("/proc/{}/fd", mount_->daemon_pid());
        DIR* d = ::opendir(dir.c_str());
        if (!d) return -1;
        int n = 0;
        while (const dirent* e = ::readdir(d)) {
            char target[64];
            const ssize_t len = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof(target));
            if (len > 0 && std::string_view(target, static_cast<std::size_t>(len)) == "/dev/fuse") ++n;
        }
        ::closedir(d);
        return n;
    }

    static std::uint64_t seed() {
        if (const char* s = std::getenv("BCL_CONCURRENCY_SEED")) return std::strtoull(s, nullptr, 10);
        return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    }

    // Compares every file under `dir` (the mount or the backing directory)
    // and the set of names with the model.
    void expect_files_match(const std::string& dir, const char* where, bool direct) {
        std::set<std::string> want_names;
        for (ModelFile& f : files_) {
            want_names.insert(f.name);
            const std::string want(f.bytes.data(), f.size.load());
            int err = 0;
            auto got = read_whole(dir + "/" + f.name, direct, &err);
            ASSERT_TRUE(got.has_value()) << where << " " << f.name << ": " << std::strerror(err);
            EXPECT_EQ(got->size(), want.size()) << where << " " << f.name;
            if (*got != want) {
                std::size_t i = 0;
                while (i < std::min(got->size(), want.size()) && (*got)[i] == want[i]) ++i;
                ADD_FAILURE() << where << " " << f.name << " (" << (direct ? "O_DIRECT" : "buffered")
                              << ") differs from the model first at byte " << i;
            }
        }
        std::set<std::string> names;
        for (const std::string& n : kNames) {
            struct stat st {};
            if (::lstat((dir + "/" + n).c_str(), &st) == 0) names.insert(n);
        }
        EXPECT_EQ(names, want_names) << where;
    }

    std::string fsck() {
        RunResult r = run_program({ctl_path(), "fsck", t().cache_path(), "--index", t().index_path()},
                                  std::chrono::milliseconds(60000));
        if (r.exited_with(0)) return {};
        return fmt::format("bcachefs-lite-ctl fsck: exit {}:\n{}", r.exit_code(), r.err);
    }

    std::vector<ModelFile> files_ = std::vector<ModelFile>(kFiles);
    std::mutex names_mutex_;  // guards the choice of a free name in renames
};

TEST_P(ConcurrencyTest, RandomOperationsOnSharedFilesMatchTheModel) {
    const std::uint64_t base_seed = seed();
    SCOPED_TRACE(fmt::format("BCL_CONCURRENCY_SEED={}", base_seed));
    for (int i = 0; i < kFiles; ++i) {
        files_[i].name = kNames[i];
        files_[i].bytes.assign(kFileMax, 0);
        ASSERT_TRUE(write_file(m(files_[i].name), ""));
    }

    FirstFailure failures;
    auto fail = [&](const std::string& what) { failures.fail(what); };
    std::atomic<std::uint64_t> ops{0};
    const auto until = std::chrono::steady_clock::now() + run_time();

    auto worker = [&](int me) {
        std::mt19937_64 rng(base_seed * 1000003 + static_cast<std::uint64_t>(me));
        const std::size_t region = static_cast<std::size_t>(me) * kRegion;
        while (!failures.stopped() && std::chrono::steady_clock::now() < until) {
            ModelFile& f = files_[rng() % kFiles];
            const unsigned op = rng() % 100;
            if (op < 70) {
                // I/O inside the own range, under the shared lock.
                std::shared_lock lk(f.lock);
                const std::string path = m(f.name);
                if (op < 30) {
                    const bool direct = op < 10;
                    const std::size_t off =
                        direct ? region + (rng() % (kRegion / kBlock)) * kBlock : region + rng() % kRegion;
                    const std::size_t len = direct ? kBlock * (1 + rng() % ((region + kRegion - off) / kBlock))
                                                   : 1 + rng() % (region + kRegion - off);
                    const std::uint64_t size_before = f.size.load();
                    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
                    if (fd < 0) return fail(fmt::format("open {}: {}", f.name, std::strerror(errno)));
                    auto got = direct ? pread_aligned(fd, off, len) : [&]() -> std::optional<std::string> {
                        std::string buf(len, '\0');
                        ssize_t n = ::pread(fd, buf.data(), len, static_cast<off_t>(off));
                        if (n < 0) return std::nullopt;
                        buf.resize(static_cast<std::size_t>(n));
                        return buf;
                    }();
                    const int err = errno;
                    ::close(fd);
                    if (!got) return fail(fmt::format("pread {} at {}: {}", f.name, off, std::strerror(err)));
                    const std::size_t at_least = size_before > off ? std::min<std::size_t>(len, size_before - off) : 0;
                    if (got->size() < at_least || got->size() > len) {
                        return fail(fmt::format("{} read of {} at {} of {} returned {} bytes, the file had {}",
                                                direct ? "O_DIRECT" : "buffered", len, off, f.name, got->size(),
                                                size_before));
                    }
                    if (std::memcmp(got->data(), f.bytes.data() + off, got->size()) != 0) {
                        std::size_t i = 0;
                        while ((*got)[i] == f.bytes[off + i]) ++i;
                        std::size_t differ = 0, last = i;
                        for (std::size_t k = i; k < got->size(); ++k) {
                            if ((*got)[k] != f.bytes[off + k]) {
                                ++differ;
                                last = k;
                            }
                        }
                        // Read once more: whether the file holds the wrong
                        // bytes or one read returned them.
                        std::string again = "unreadable";
                        if (int fd2 = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT); fd2 >= 0) {
                            auto got2 = pread_aligned(fd2, off - off % kBlock, kRegion);
                            ::close(fd2);
                            if (got2 && got2->size() >= off % kBlock + got->size()) {
                                again = got2->compare(off % kBlock, got->size(), f.bytes.data() + off, got->size()) == 0
                                            ? "right"
                                            : "wrong again";
                            }
                        }
                        return fail(fmt::format(
                            "{} read of {} at {} of {} differs at byte {}: {:#x}, model {:#x}; {} "
                            "bytes differ, the last at {}; read again it is {}; dirty {} cached {}; "
                            "the changes of the blocks:\n{}",
                            direct ? "O_DIRECT" : "buffered", len, off, f.name, off + i, (*got)[i] & 0xff,
                            f.bytes[off + i] & 0xff, differ, off + last, again, dirty_bytes(path).value_or(0),
                            cached_bytes(path).value_or(0),
                            f.changes_touching((off + i) / kBlock * kBlock, (off + last) / kBlock * kBlock + kBlock)));
                    }
                } else if (op < 62) {
                    const std::size_t off = region + rng() % kRegion;
                    const std::size_t len = 1 + rng() % std::min<std::size_t>(region + kRegion - off, 24 << 10);
                    const std::string data = random_bytes(rng, len);
                    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
                    if (fd < 0) return fail(fmt::format("open {}: {}", f.name, std::strerror(errno)));
                    // The model first: a read of the own range is only ever
                    // made by this thread, after this write returned.
                    std::memcpy(f.bytes.data() + off, data.data(), len);
                    f.note(me, "write", off, off + len);
                    ssize_t n = ::pwrite(fd, data.data(), len, static_cast<off_t>(off));
                    const int err = errno;
                    ::close(fd);
                    if (n != static_cast<ssize_t>(len)) {
                        return fail(
                            fmt::format("pwrite {} at {}: {}", f.name, off, n < 0 ? std::strerror(err) : "short"));
                    }
                    std::uint64_t size = f.size.load();
                    while (size < off + len && !f.size.compare_exchange_weak(size, off + len)) {
                    }
                } else {
                    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
                    if (fd < 0) return fail(fmt::format("open {}: {}", f.name, std::strerror(errno)));
                    const bool data_only = rng() % 2 == 0;
                    int r = data_only ? ::fdatasync(fd) : ::fsync(fd);
                    const int err = errno;
                    ::close(fd);
                    if (r != 0) return fail(fmt::format("fsync {}: {}", f.name, std::strerror(err)));
                }
            } else {
                std::unique_lock lk(f.lock);
                if (op < 82) {
                    const std::uint64_t size = rng() % (kFileMax + 1);
                    f.note(me, size < f.size ? "truncate down" : "truncate up", std::min<std::uint64_t>(size, f.size),
                           kFileMax);
                    if (::truncate(m(f.name).c_str(), static_cast<off_t>(size)) != 0) {
                        return fail(fmt::format("truncate {} to {}: {}", f.name, size, std::strerror(errno)));
                    }
                    if (size < f.size) std::fill(f.bytes.begin() + static_cast<std::ptrdiff_t>(size), f.bytes.end(), 0);
                    f.size = size;
                } else if (op < 91) {
                    std::lock_guard names(names_mutex_);
                    std::vector<std::string> free;
                    for (const std::string& n : kNames) {
                        if (std::none_of(files_.begin(), files_.end(),
                                         [&](const ModelFile& o) { return o.name == n; })) {
                            free.push_back(n);
                        }
                    }
                    const std::string to = free[rng() % free.size()];
                    if (::rename(m(f.name).c_str(), m(to).c_str()) != 0) {
                        return fail(fmt::format("rename {} to {}: {}", f.name, to, std::strerror(errno)));
                    }
                    f.name = to;
                } else {
                    if (::unlink(m(f.name).c_str()) != 0) {
                        return fail(fmt::format("unlink {}: {}", f.name, std::strerror(errno)));
                    }
                    int fd = ::open(m(f.name).c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
                    if (fd < 0) return fail(fmt::format("re-create {}: {}", f.name, std::strerror(errno)));
                    // Some content at once, written by the re-creating thread.
                    const std::size_t len = rng() % (32 << 10);
                    const std::string data = random_bytes(rng, len);
                    std::fill(f.bytes.begin(), f.bytes.end(), 0);
                    std::memcpy(f.bytes.data(), data.data(), len);
                    f.size = len;
                    f.note(me, "re-create", 0, kFileMax);
                    ssize_t n = ::write(fd, data.data(), len);
                    ::close(fd);
                    if (n != static_cast<ssize_t>(len)) return fail(fmt::format("write new {}", f.name));
                }
            }
            ++ops;
        }
    };

    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
    for (std::thread& th : threads) th.join();
    ASSERT_EQ(failures.what(), "") << "after " << ops << " operations\n" << t().daemon_log();
    EXPECT_GT(ops.load(), 100u);
    // Six threads kept several requests in flight, so libfuse started more
    // than one worker: with clone_fd each opened a descriptor of its own.
    if (clone_fd()) {
        EXPECT_GT(fuse_fds(), 1);
    } else {
        EXPECT_EQ(fuse_fds(), 1);
    }

    expect_files_match(t().mnt(), "through the mount", false);
    expect_files_match(t().mnt(), "through the mount", true);
    ASSERT_TRUE(t().stop().has_value());
    // mode=none never opens the cache, so there is no index to check.
    if (mode() != "none") {
        EXPECT_EQ(fsck(), "");
    }
    if (is_writeback()) {
        // The clean unmount kept the dirty data; the next mount writes it back.
        ASSERT_TRUE(t().start()) << t().error();
        ASSERT_EQ(set_xattr(t().mnt(), attr("flush"), "1"), 0);
        EXPECT_TRUE(wait_for_stat(
            t().mnt(), "dirty_data", [](std::uint64_t v) { return v == 0; }, std::chrono::milliseconds(60000)));
        expect_files_match(t().mnt(), "through the mount again", true);
        ASSERT_TRUE(t().stop().has_value());
        EXPECT_EQ(fsck(), "");
    }
    expect_files_match(t().backing(), "in the backing directory", false);
}

INSTANTIATE_TEST_SUITE_P(Modes, ConcurrencyTest,
                         testing::Values("none", "writearound", "writethrough", "writeback", "writeback+clone_fd"),
                         [](const testing::TestParamInfo<const char*>& info) {
                             std::string name = info.param;
                             std::replace(name.begin(), name.end(), '+', '_');
                             return name;
                         });

// What the random run found once in a while, made certain: a truncate that
// drops all of a file's dirty data leaves no dirty-file record behind, so
// fsck finds a clean unmount's cache clean.
class DirtyRecordTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        spec.options += ",mode=writeback,writeback_running=0";
        return spec;
    }
};

TEST_F(DirtyRecordTest, TruncatingAwayAllDirtyDataLeavesNoDirtyRecord) {
    if (ctl_path().empty()) GTEST_SKIP() << "BCL_CTL is not set (run the tests through meson test)";
    std::mt19937_64 rng(11);
    const int fd = ::open(m("f").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    const std::string data = random_bytes(rng, 10000);
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 100000), static_cast<ssize_t>(data.size()));
    ASSERT_EQ(::close(fd), 0);
    ASSERT_GT(dirty_bytes(m("f")).value_or(0), 0u);
    ASSERT_EQ(::truncate(m("f").c_str(), 50000), 0) << std::strerror(errno);
    EXPECT_EQ(dirty_bytes(m("f")), 0u);
    ASSERT_TRUE(t().stop().has_value());
    RunResult r = run_program({ctl_path(), "fsck", t().cache_path(), "--index", t().index_path()});
    EXPECT_TRUE(r.exited_with(0)) << r.err;
}

}  // namespace
}  // namespace bcl::test
