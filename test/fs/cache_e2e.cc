#include "cache_e2e.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <ostream>
#include <sstream>

#include "bcachefs_lite/util/crc32c.h"

namespace bcl::test {
namespace {

namespace stdfs = std::filesystem;

constexpr std::size_t kAlign = 4096;

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};
using AlignedBuf = std::unique_ptr<char, FreeDeleter>;

AlignedBuf aligned_alloc_buf(std::size_t size) {
    void* p = nullptr;
    if (::posix_memalign(&p, kAlign, std::max(size, kAlign)) != 0) return AlignedBuf();
    return AlignedBuf(static_cast<char*>(p));
}

}  // namespace

const std::vector<std::string>& root_stat_names() {
    static const std::vector<std::string> names = {
        "cache_hits",
        "cache_misses",
        "cache_hit_ratio",
        "cache_bypass_hits",
        "cache_bypass_misses",
        "bypassed",
        "cache_miss_collisions",
        "bytes_read_cache",
        "bytes_read_backing",
        "buckets_total",
        "buckets_free",
        "cache_available_percent",
        "gc_runs",
        "offline_reads",
        "backing_offline",
        "dirty_data",
        "writeback_rate",
        "bytes_written_dirty",
        "bytes_written_back",
        "writes_direct",
        "promotions",
        "promotions_skipped",
        "congested_skips",
        "moving_gc_runs",
        "moved_bytes",
    };
    return names;
}

std::optional<std::string> get_xattr(const std::string& path, const std::string& name, int* err) {
    for (;;) {
        ssize_t len = ::getxattr(path.c_str(), name.c_str(), nullptr, 0);
        if (len < 0) {
            if (err) *err = errno;
            return std::nullopt;
        }
        std::string value(static_cast<std::size_t>(len), '\0');
        ssize_t n = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
        if (n >= 0) {
            value.resize(static_cast<std::size_t>(n));
            return value;
        }
        if (errno != ERANGE) {  // ERANGE: the value grew meanwhile; ask again
            if (err) *err = errno;
            return std::nullopt;
        }
    }
}

int set_xattr(const std::string& path, const std::string& name, const std::string& value) {
    return ::setxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) == 0 ? 0 : errno;
}

std::optional<std::vector<std::string>> list_xattrs(const std::string& path) {
    for (;;) {
        ssize_t len = ::listxattr(path.c_str(), nullptr, 0);
        if (len < 0) return std::nullopt;
        std::string buf(static_cast<std::size_t>(len), '\0');
        ssize_t n = ::listxattr(path.c_str(), buf.data(), buf.size());
        if (n < 0 && errno == ERANGE) continue;
        if (n < 0) return std::nullopt;
        std::vector<std::string> names;
        std::size_t pos = 0;
        while (pos < static_cast<std::size_t>(n)) {
            std::size_t end = buf.find('\0', pos);
            if (end == std::string::npos || end > static_cast<std::size_t>(n)) end = static_cast<std::size_t>(n);
            names.push_back(buf.substr(pos, end - pos));
            pos = end + 1;
        }
        return names;
    }
}

std::optional<std::uint64_t> parse_stat(std::string_view text) {
    // Tolerate one trailing newline, nothing else.
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (text.empty() || text.size() > 20) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        std::uint64_t next = value * 10 + static_cast<std::uint64_t>(c - '0');
        if (next / 10 != value) return std::nullopt;
        value = next;
    }
    return value;
}

std::optional<std::uint64_t> stat_xattr(const std::string& mnt, const std::string& name) {
    auto value = get_xattr(mnt, std::string(kStatPrefix) + name);
    if (!value) return std::nullopt;
    return parse_stat(*value);
}

std::optional<std::uint64_t> cached_bytes(const std::string& path) {
    auto value = get_xattr(path, std::string(kStatPrefix) + "cached_bytes");
    if (!value) return std::nullopt;
    return parse_stat(*value);
}

std::optional<std::uint64_t> dirty_bytes(const std::string& path) {
    auto value = get_xattr(path, std::string(kStatPrefix) + "dirty_bytes");
    if (!value) return std::nullopt;
    return parse_stat(*value);
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    // The daemon offers no notification of its background work: poll, at a
    // pace that costs it little.
    constexpr auto kPoll = std::chrono::milliseconds(20);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        struct timespec pause {
            0, std::chrono::nanoseconds(kPoll).count()
        };
        ::nanosleep(&pause, nullptr);
    }
}

bool wait_for_stat(const std::string& mnt, const std::string& name, const std::function<bool(std::uint64_t)>& done,
                   std::chrono::milliseconds timeout) {
    return wait_until(
        [&] {
            auto value = stat_xattr(mnt, name);
            return value && done(*value);
        },
        timeout);
}

Stats Stats::read(const std::string& mnt) {
    Stats s;
    int err = 0;
    auto text = get_xattr(mnt, std::string(kStatPrefix) + "stats", &err);
    if (!text) {
        s.error_ = "getxattr user.bcachefs_lite.stats: " + std::string(std::strerror(err));
        return s;
    }
    s.text_ = *text;
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty()) continue;
        std::size_t eq = line.find('=');
        auto value = eq == std::string::npos ? std::nullopt : parse_stat(std::string_view(line).substr(eq + 1));
        if (!value) {
            s.error_ = "not a name=value line: '" + line + "'";
            return s;
        }
        s.values_[line.substr(0, eq)] = *value;
    }
    return s;
}

std::uint64_t Stats::operator[](const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) {
        ADD_FAILURE() << "statistic " << name << " is missing from:\n" << text_ << error_;
        return 0;
    }
    return it->second;
}

std::string random_bytes(std::mt19937_64& rng, std::size_t size) {
    std::string out(size, '\0');
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        std::uint64_t v = rng();
        std::memcpy(out.data() + i, &v, 8);
    }
    for (; i < size; ++i) out[i] = static_cast<char>(rng());
    return out;
}

std::optional<std::string> read_whole(const std::string& path, bool direct, int* err) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
    if (fd < 0) {
        if (err) *err = errno;
        return std::nullopt;
    }
    constexpr std::size_t kChunk = 1 << 20;
    AlignedBuf buf = aligned_alloc_buf(kChunk);
    std::string out;
    for (;;) {
        ssize_t n = ::read(fd, buf.get(), kChunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            if (err) *err = errno;
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0) break;
        out.append(buf.get(), static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

std::optional<std::string> pread_aligned(int fd, std::uint64_t offset, std::size_t len) {
    AlignedBuf buf = aligned_alloc_buf(len);
    std::string out;
    // A short read is fine only at end of file: read until len or 0.
    while (out.size() < len) {
        ssize_t n = ::pread(fd, buf.get(), len - out.size(), static_cast<off_t>(offset + out.size()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        out.append(buf.get(), static_cast<std::size_t>(n));
    }
    return out;
}

FileSum file_sum(const std::string& path) {
    FileSum sum;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sum;
    sum.size = 0;
    std::vector<char> buf(1 << 20);
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            sum.size = -1;
            break;
        }
        if (n == 0) break;
        sum.crc = crc32c(sum.crc, buf.data(), static_cast<std::size_t>(n));
        sum.size += n;
    }
    ::close(fd);
    return sum;
}

std::ostream& operator<<(std::ostream& out, const FileSum& sum) {
    return out << "{size " << sum.size << ", crc32c " << sum.crc << "}";
}

std::string tree_listing(const std::string& dir) {
    std::vector<std::string> lines;
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(dir, ec); !ec && it != stdfs::recursive_directory_iterator();
         it.increment(ec)) {
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0) continue;
        std::ostringstream line;
        line << stdfs::relative(it->path(), dir).string() << " mode=" << std::oct << st.st_mode << std::dec
             << " size=" << st.st_size << " mtime=" << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
        if (S_ISREG(st.st_mode)) line << " crc=" << file_sum(it->path().string()).crc;
        lines.push_back(line.str());
    }
    if (ec) lines.push_back("error: " + ec.message());
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

bool wait_for_clock_past(const struct timespec& t) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
        struct timespec now {};
        ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
        if (now.tv_sec > t.tv_sec || (now.tv_sec == t.tv_sec && now.tv_nsec > t.tv_nsec)) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        ::sched_yield();
    }
}

bool wait_for_lock_released(const std::string& lock_file) {
    if (::access(lock_file.c_str(), F_OK) != 0) return true;
    // A blocking OFD lock in a child (which conflicts with the POSIX lock
    // RocksDB holds) returns once the lock is free; run_in_child kills the
    // child at kExitTimeout.
    return run_in_child([&] {
               int fd = ::open(lock_file.c_str(), O_RDWR | O_CLOEXEC);
               if (fd < 0) return 1;
               struct flock lock {};
               lock.l_type = F_WRLCK;
               lock.l_whence = SEEK_SET;
               int r;
               do {
                   r = ::fcntl(fd, F_OFD_SETLKW, &lock);
               } while (r != 0 && errno == EINTR);
               return r == 0 ? 0 : 2;
           }) == 0;
}

std::string ctl_path() {
    const char* path = std::getenv("BCL_CTL");
    return path ? path : "";
}

std::string format_cache(const std::string& path, const std::string& size, const std::string& bucket_size) {
    std::vector<std::string> args = {ctl_path(), "format", "--size", size};
    if (!bucket_size.empty()) args.insert(args.end(), {"--bucket-size", bucket_size});
    args.push_back(path);
    RunResult r = run_program(args);
    if (r.exited_with(0)) return {};
    return r.err.empty() ? "bcachefs-lite-ctl format failed" : r.err;
}

std::string cache_uuid(const std::string& path) {
    RunResult r = run_program({ctl_path(), "show", path});
    if (!r.exited_with(0)) return {};
    std::istringstream lines(r.err);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("uuid:", 0) != 0) continue;
        std::size_t start = line.find_first_not_of(' ', 5);
        return start == std::string::npos ? std::string() : line.substr(start);
    }
    return {};
}

RunResult run_flush_command(const std::string& mnt) {
    return run_program({ctl_path(), "flush", mnt}, std::chrono::milliseconds(60000));
}

}  // namespace bcl::test
