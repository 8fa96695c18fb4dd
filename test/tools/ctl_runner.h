// Helpers for tests that run the built bcachefs-lite-ctl: where it is (the
// BCL_CTL environment variable, set by meson), running a program and
// capturing its output, temporary directories, and a checksum of a whole
// file or device to prove a refused command changed nothing.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "bcachefs_lite/util/crc32c.h"

namespace bcl::test {

struct RunResult {
    int exit_code = -1;  // or 128 + signal
    std::string out;
    std::string err;
};

inline std::string read_all_fd(int fd) {
    std::string s;
    char buf[4096];
    ::lseek(fd, 0, SEEK_SET);
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        s.append(buf, static_cast<std::size_t>(n));
    }
    return s;
}

// Runs argv[0] (a path) with argv, stdin from /dev/null.
inline RunResult run(const std::vector<std::string>& argv) {
    RunResult r;
    int out = ::memfd_create("out", MFD_CLOEXEC);
    int err = ::memfd_create("err", MFD_CLOEXEC);
    if (out < 0 || err < 0) return r;
    pid_t pid = ::fork();
    if (pid == 0) {
        int in = ::open("/dev/null", O_RDONLY);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    if (pid > 0) ::waitpid(pid, &status, 0);
    if (pid > 0) r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_all_fd(out);
    r.err = read_all_fd(err);
    ::close(out);
    ::close(err);
    return r;
}

inline std::string ctl_path() {
    const char* p = std::getenv("BCL_CTL");
    return p ? p : "";
}

// Runs bcachefs-lite-ctl with args.
inline RunResult ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{ctl_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
}

// Size and CRC-32C of everything in the file or device; -1 size if unreadable.
struct Fingerprint {
    long long size = -1;
    std::uint32_t crc = 0;
    bool operator==(const Fingerprint&) const = default;
};

inline Fingerprint fingerprint(const std::string& path) {
    Fingerprint f;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return f;
    f.size = 0;
    std::vector<char> buf(1 << 20);
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n <= 0) break;
        f.crc = crc32c(f.crc, buf.data(), static_cast<std::size_t>(n));
        f.size += n;
    }
    ::close(fd);
    return f;
}

// Makes a sparse file; false on failure.
inline bool make_sparse_file(const std::string& path, std::uint64_t size) {
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    const bool ok = ::ftruncate(fd, static_cast<off_t>(size)) == 0;
    ::close(fd);
    return ok;
}

// A program found in PATH or the usual sbin folders, or "".
inline std::string find_program(const std::string& name) {
    std::string dirs = std::getenv("PATH") ? std::getenv("PATH") : "";
    dirs += ":/usr/sbin:/sbin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        std::size_t end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        std::string cand = dirs.substr(start, end - start) + "/" + name;
        if (end > start && ::access(cand.c_str(), X_OK) == 0) return cand;
        start = end + 1;
    }
    return "";
}

// Checks a refusal: the exit code, one line on stderr naming the program
// (and containing `needle`), nothing on stdout, and path unchanged.
inline void expect_refused(const std::vector<std::string>& args, const std::string& path, int exit_code,
                           const std::string& needle) {
    const Fingerprint before = fingerprint(path);
    const RunResult r = ctl(args);
    const Fingerprint after = fingerprint(path);
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    EXPECT_EQ(r.exit_code, exit_code) << cmd << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << cmd << "\n" << r.out;
    EXPECT_EQ(r.err.rfind("bcachefs-lite-ctl: ", 0), 0u) << cmd << "\n" << r.err;
    ASSERT_FALSE(r.err.empty()) << cmd;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << cmd << ": not one line:\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << cmd << ": expected '" << needle << "' in\n" << r.err;
    EXPECT_EQ(before, after) << cmd << ": " << path << " changed";
}

}  // namespace bcl::test
