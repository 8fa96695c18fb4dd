// What the engine benchmarks share: numbers from the environment, a stop on
// SIGINT/SIGTERM/SIGHUP that still lets a run undo what it made, a
// temporary directory removed on every path, the process's RSS, and a
// backing file read through a CacheSet.
//
// Thread safety: StopSignals may be read from any thread; the rest belongs
// to one thread.
#pragma once

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// The positive number in environment variable `name`, or `fallback` when
// it is unset or empty.
inline Result<std::uint64_t> env_number(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return fallback;
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || n == 0)
        return make_error(Errc::invalid, fmt::format("{}={}: not a positive number", name, v));
    return static_cast<std::uint64_t>(n);
}

// Turns SIGINT, SIGTERM and SIGHUP (Ctrl-C, meson's timeout, a closed
// terminal) into a request to stop, so that the run can still undo what it
// made. The signals are blocked before any other thread starts (threads
// inherit the mask) and taken by sigtimedwait in a watcher thread.
class StopSignals {
public:
    StopSignals() {
        sigemptyset(&signals_);
        for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals_, s);
        pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_);
        watcher_ = std::thread([this] { watch(); });
    }
    ~StopSignals() {
        done_.store(true);
        watcher_.join();
        pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    // The signal that asked to stop, or 0.
    int signal() const { return signal_.load(std::memory_order_relaxed); }
    Status check() const {
        if (const int s = signal(); s != 0) return make_error(Errc::shutdown, fmt::format("stopped by signal {}", s));
        return ok();
    }

private:
    void watch() {
        // Wakes up now and then to see whether the run is over.
        const struct timespec tick { 0, 100'000'000 };
        while (!done_.load()) {
            const int s = sigtimedwait(&signals_, nullptr, &tick);
            if (s > 0) signal_.store(s, std::memory_order_relaxed);
        }
    }

    sigset_t signals_{};
    sigset_t old_mask_{};
    std::atomic<bool> done_{false};
    std::atomic<int> signal_{0};
    std::thread watcher_;
};

// A directory made by mkdtemp, removed with everything in it on destruction.
class WorkDir {
public:
    static Result<std::unique_ptr<WorkDir>> make(const std::string& base, const std::string& prefix) {
        std::string tmpl = base + "/" + prefix + "-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) return sys_error(errno, "mkdtemp in " + base);
        return std::unique_ptr<WorkDir>(new WorkDir(tmpl));
    }
    ~WorkDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    WorkDir(const WorkDir&) = delete;
    WorkDir& operator=(const WorkDir&) = delete;
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    explicit WorkDir(std::string path) : path_(std::move(path)) {}
    std::string path_;
};

// VmRSS, VmHWM, RssAnon and RssFile of this process, in MiB.
struct Rss {
    double rss_mib = 0;
    double peak_mib = 0;
    double anon_mib = 0;
    double file_mib = 0;
};

inline Result<Rss> read_rss() {
    std::ifstream in("/proc/self/status");
    if (!in) return make_error(Errc::io, "cannot read /proc/self/status");
    Rss r;
    std::string line;
    while (std::getline(in, line)) {
        unsigned long long kib = 0;
        if (std::sscanf(line.c_str(), "VmRSS: %llu kB", &kib) == 1) r.rss_mib = static_cast<double>(kib) / 1024;
        if (std::sscanf(line.c_str(), "VmHWM: %llu kB", &kib) == 1) r.peak_mib = static_cast<double>(kib) / 1024;
        if (std::sscanf(line.c_str(), "RssAnon: %llu kB", &kib) == 1) r.anon_mib = static_cast<double>(kib) / 1024;
        if (std::sscanf(line.c_str(), "RssFile: %llu kB", &kib) == 1) r.file_mib = static_cast<double>(kib) / 1024;
    }
    return r;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so the next peak is the
// peak of what follows.
inline Status reset_peak() {
    std::ofstream out("/proc/self/clear_refs");
    out << "5" << std::flush;
    if (!out) return make_error(Errc::io, "cannot reset the peak RSS through /proc/self/clear_refs");
    return ok();
}

// A backing file open for reading, with the engine's state for it.
class OpenFile {
public:
    static Result<std::unique_ptr<OpenFile>> open(CacheSet& set, const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return sys_error(errno, "open " + path);
        std::unique_ptr<OpenFile> f(new OpenFile(set, fd));
        struct statx stx {};
        if (::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0)
            return sys_error(errno, "statx " + path);
        auto state = set.open_file(fd, stx);
        if (!state) return state.error();
        f->state_ = std::move(state).value();
        return f;
    }
    ~OpenFile() {
        if (state_) set_.release_file(state_);
        ::close(fd_);
    }
    OpenFile(const OpenFile&) = delete;
    OpenFile& operator=(const OpenFile&) = delete;

    // Reads buf.size() bytes at block * buf.size().
    Status read_block(std::uint64_t block, std::span<std::byte> buf) {
        auto n = set_.read(*state_, fd_, block * buf.size(), buf);
        if (!n) return n.error();
        if (n.value() != buf.size()) return make_error(Errc::io, "short read of a backing file");
        return ok();
    }

    // The even blocks (of block_bytes) below `blocks` that no extent covers.
    Result<std::vector<std::uint64_t>> uncached(std::uint64_t blocks, std::uint64_t block_bytes) {
        std::uint64_t file_id;
        {
            std::lock_guard lk(state_->mutex);
            file_id = state_->record.file_id;
        }
        auto found = set_.index().lookup(file_id, 0, blocks * block_bytes);
        if (!found) return found.error();
        std::vector<bool> cached(blocks, false);
        for (const Extent& e : found.value())
            for (std::uint64_t b = e.start() / block_bytes; b < blocks && b * block_bytes < e.end(); ++b)
                cached[b] = true;
        std::vector<std::uint64_t> missing;
        for (std::uint64_t b = 0; b < blocks; b += 2)
            if (!cached[b]) missing.push_back(b);
        return missing;
    }

private:
    OpenFile(CacheSet& set, int fd) : set_(set), fd_(fd) {}
    CacheSet& set_;
    int fd_;
    std::shared_ptr<CachedFile> state_;
};

// The main() of an engine benchmark: one Google Benchmark of one
// iteration named `name`, whose body is `body(state, stop, failed)`; the
// stop signals are taken before RocksDB or the engine start any thread.
// Exits 1 on a bad environment or a failed run, 128 + the signal when one
// stopped it.
template <class Config>
int benchmark_main(int argc, char** argv, const char* program, Result<Config> config, const std::string& name,
                   const std::function<void(benchmark::State&, const Config&, const StopSignals&, bool&)>& body) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    if (!config) {
        std::fprintf(stderr, "%s: %s\n", program, config.error().message.c_str());
        return 1;
    }
    const Config c = config.value();
    bool failed = false;
    int stopped_by = 0;
    {
        const StopSignals stop;
        benchmark::RegisterBenchmark(name.c_str(), [&](benchmark::State& s) { body(s, c, stop, failed); })
            ->Iterations(1)
            ->Unit(benchmark::kSecond)
            ->UseRealTime();
        benchmark::RunSpecifiedBenchmarks();
        benchmark::Shutdown();
        stopped_by = stop.signal();
    }
    if (stopped_by != 0) return 128 + stopped_by;
    return failed ? 1 : 0;
}

}  // namespace bcl
