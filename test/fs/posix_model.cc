#include "posix_model.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>

namespace bcl::test {
namespace {

constexpr std::size_t kAlign = 4096;
constexpr std::uint64_t kMaxSize = 256 * 1024;  // files stay small: many ops a file
constexpr std::size_t kMaxFds = 6;
const char* const kNames[] = {"a", "b", "c", "d"};

struct Inode {
    std::string data;
    int links = 0;
    int opens = 0;
};

struct OpenFd {
    int fd = -1;
    int inode = 0;
    bool direct = false;
    std::uint64_t position = 0;  // of read(2) and write(2)
};

// A buffer aligned for O_DIRECT.
struct Aligned {
    explicit Aligned(std::size_t n) : size(n) {
        void* p = nullptr;
        if (::posix_memalign(&p, kAlign, std::max<std::size_t>(n, kAlign)) != 0) std::abort();
        data.reset(static_cast<char*>(p));
    }
    struct Free {
        void operator()(char* p) const { std::free(p); }
    };
    std::unique_ptr<char, Free> data;
    std::size_t size;
};

std::string errno_text(int e) { return e == 0 ? "ok" : std::strerror(e); }

class Run {
public:
    Run(std::string dir, const ModelOptions& o) : dir_(std::move(dir)), o_(o), rng_(o.seed) {}

    ModelResult run() {
        for (op_ = 0; op_ < o_.operations; ++op_) {
            step();
            if (o_.stop_at_first && !result_.mismatches.empty()) break;
        }
        result_.operations = op_;
        for (auto& f : fds_) ::close(f.fd);
        fds_.clear();
        if (result_.mismatches.empty() || !o_.stop_at_first) final_check();
        return std::move(result_);
    }

private:
    std::string path(const std::string& name) const { return dir_ + "/" + name; }
    std::uint64_t pick(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }
    std::string name() { return kNames[pick(std::size(kNames))]; }
    std::string bytes(std::size_t n) {
        std::string s(n, '\0');
        for (auto& c : s) c = static_cast<char>('a' + pick(26));
        return s;
    }
    std::uint64_t offset(bool aligned) {
        std::uint64_t off = pick(kMaxSize);
        return aligned ? off / kAlign * kAlign : off;
    }
    std::size_t length(bool aligned) {
        std::size_t n = 1 + pick(aligned ? 8 : 40000);
        return aligned ? n * kAlign : n;
    }

    // Each entry names the model inode of the descriptor it used, if any.
    void note(const std::string& what) {
        result_.log.push_back(std::to_string(op_) + ": " + what +
                              (current_ >= 0 ? " [inode " + std::to_string(current_) + "]" : ""));
    }
    void mismatch(const std::string& what, const std::string& expected, const std::string& got) {
        result_.mismatches.push_back(std::to_string(op_) + ": " + what + ": expected " + expected + ", got " + got);
    }
    void expect_errno(const std::string& what, int expected, int got) {
        if (expected != got) mismatch(what, errno_text(expected), errno_text(got));
    }

    Inode* inode_of_name(const std::string& n) {
        auto it = names_.find(n);
        return it == names_.end() ? nullptr : &inodes_[it->second];
    }
    void drop_link(int ino) {
        if (--inodes_[ino].links == 0 && inodes_[ino].opens == 0) inodes_.erase(ino);
    }
    void check_size(const OpenFd& f, const std::string& what) {
        struct stat st {};
        if (::fstat(f.fd, &st) != 0) return mismatch(what + ": fstat", "ok", errno_text(errno));
        const auto want = inodes_[f.inode].data.size();
        if (static_cast<std::uint64_t>(st.st_size) != want)
            mismatch(what + ": size", std::to_string(want), std::to_string(st.st_size));
    }
    // The model's write of `data` at `off` of `ino`.
    void model_write(int ino, std::uint64_t off, const std::string& data) {
        if (data.empty()) return;  // writes nothing, extends nothing
        std::string& d = inodes_[ino].data;
        if (d.size() < off + data.size()) d.resize(off + data.size(), '\0');
        d.replace(off, data.size(), data);
    }
    std::string model_read(int ino, std::uint64_t off, std::size_t n) {
        const std::string& d = inodes_[ino].data;
        if (off >= d.size()) return {};
        return d.substr(off, std::min<std::size_t>(n, d.size() - off));
    }

    void step() {
        const std::uint64_t r = pick(100);
        current_ = -1;
        if (fds_.empty() || r < 14) return do_open();
        OpenFd& f = fds_[pick(fds_.size())];
        current_ = f.inode;
        if (r < 28) return do_pwrite(f);
        if (r < 42) return do_pread(f);
        if (r < 46) return do_write_at_position(f);
        if (r < 50) return do_read_at_position(f);
        if (r < 55) return do_close(f);
        if (r < 59) return do_ftruncate(f);
        if (r < 62) return do_truncate();
        if (r < 66) return do_fallocate(f);
        if (r < 70) return do_copy(f);
        if (r < 76) return do_rename();
        if (r < 81) return do_unlink();
        if (r < 84) return do_link();
        if (r < 87) return do_fsync(f);
        if (r < 94) return do_mmap(f);
        check_size(f, "fstat");
    }

    void do_open() {
        if (fds_.size() >= kMaxFds) return do_close(fds_[pick(fds_.size())]);
        const std::string n = name();
        const bool create = pick(3) != 0;
        const bool trunc = create && pick(5) == 0;
        const bool direct = pick(6) == 0;
        int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0) | (trunc ? O_TRUNC : 0) | (direct ? O_DIRECT : 0);
        note("open " + n + (create ? " creat" : "") + (trunc ? " trunc" : "") + (direct ? " direct" : ""));
        const int fd = ::open(path(n).c_str(), flags, 0644);
        const int err = fd < 0 ? errno : 0;
        Inode* in = inode_of_name(n);
        if (!in && !create) return expect_errno("open " + n, ENOENT, err);
        expect_errno("open " + n, 0, err);
        if (fd < 0) return;
        if (!in) {
            const int ino = next_inode_++;
            inodes_[ino].links = 1;
            names_[n] = ino;
            in = &inodes_[ino];
        }
        const int ino = names_[n];
        if (trunc) in->data.clear();
        ++in->opens;
        fds_.push_back(OpenFd{fd, ino, direct});
        check_size(fds_.back(), "open " + n);
    }

    void do_close(OpenFd& f) {
        note("close");
        const int rc = ::close(f.fd);
        expect_errno("close", 0, rc == 0 ? 0 : errno);
        const int ino = f.inode;
        fds_.erase(fds_.begin() + (&f - fds_.data()));
        if (--inodes_[ino].opens == 0 && inodes_[ino].links == 0) inodes_.erase(ino);
    }

    void do_pwrite(OpenFd& f) {
        const std::uint64_t off = offset(f.direct);
        const std::size_t n = length(f.direct);
        const std::string data = bytes(n);
        note("pwrite " + std::to_string(off) + "+" + std::to_string(n) + (f.direct ? " direct" : ""));
        ssize_t w;
        if (f.direct) {
            Aligned buf(n);
            std::memcpy(buf.data.get(), data.data(), n);
            w = ::pwrite(f.fd, buf.data.get(), n, static_cast<off_t>(off));
        } else {
            w = ::pwrite(f.fd, data.data(), n, static_cast<off_t>(off));
        }
        if (w != static_cast<ssize_t>(n))
            return mismatch("pwrite", std::to_string(n), w < 0 ? errno_text(errno) : std::to_string(w));
        model_write(f.inode, off, data);
    }

    void do_pread(OpenFd& f) {
        const std::uint64_t off =
            pick(4) == 0 ? offset(f.direct)
                         : (inodes_[f.inode].data.size() > 0 && !f.direct ? pick(inodes_[f.inode].data.size())
                                                                          : offset(f.direct));
        const std::size_t n = length(f.direct);
        note("pread " + std::to_string(off) + "+" + std::to_string(n) + (f.direct ? " direct" : ""));
        Aligned buf(n);
        ssize_t got = 0;
        // A read may come back short before the end: read on.
        while (static_cast<std::size_t>(got) < n) {
            const ssize_t r = ::pread(f.fd, buf.data.get() + got, n - static_cast<std::size_t>(got),
                                      static_cast<off_t>(off + static_cast<std::uint64_t>(got)));
            if (r < 0) return mismatch("pread", "ok", errno_text(errno));
            if (r == 0) break;
            got += r;
            if (f.direct) break;  // O_DIRECT: one call, short only at the end
        }
        const std::string want = model_read(f.inode, off, n);
        const std::string have(buf.data.get(), static_cast<std::size_t>(got));
        if (have != want) {
            std::size_t i = 0;
            while (i < have.size() && i < want.size() && have[i] == want[i]) ++i;
            mismatch("pread " + std::to_string(off) + "+" + std::to_string(n), std::to_string(want.size()) + " bytes",
                     std::to_string(have.size()) + " bytes, differing at " + std::to_string(i));
        }
    }

    // lseek, then write(2) or read(2) at the descriptor's position, which
    // moves on by what was done.
    bool seek(OpenFd& f) {
        if (pick(3) == 0) {
            f.position = offset(f.direct);
            const off_t at = ::lseek(f.fd, static_cast<off_t>(f.position), SEEK_SET);
            if (at != static_cast<off_t>(f.position)) {
                mismatch("lseek", std::to_string(f.position), at < 0 ? errno_text(errno) : std::to_string(at));
                return false;
            }
        }
        return true;
    }
    void do_write_at_position(OpenFd& f) {
        if (f.direct || !seek(f)) return;
        const std::string data = bytes(length(false));
        note("write " + std::to_string(f.position) + "+" + std::to_string(data.size()));
        const ssize_t w = ::write(f.fd, data.data(), data.size());
        if (w != static_cast<ssize_t>(data.size()))
            return mismatch("write", std::to_string(data.size()), w < 0 ? errno_text(errno) : std::to_string(w));
        model_write(f.inode, f.position, data);
        f.position += data.size();
    }
    void do_read_at_position(OpenFd& f) {
        if (f.direct || !seek(f)) return;
        const std::size_t n = length(false);
        note("read " + std::to_string(f.position) + "+" + std::to_string(n));
        std::string buf(n, '\0');
        const ssize_t r = ::read(f.fd, buf.data(), n);
        if (r < 0) return mismatch("read", "ok", errno_text(errno));
        buf.resize(static_cast<std::size_t>(r));
        const std::string want = model_read(f.inode, f.position, n);
        // read(2) may return less than there is; what it returns must match.
        if (buf != want.substr(0, buf.size()) || (buf.empty() && !want.empty()))
            mismatch("read at " + std::to_string(f.position), std::to_string(want.size()) + " bytes",
                     std::to_string(buf.size()) + " other bytes");
        f.position += buf.size();
    }

    void do_ftruncate(OpenFd& f) {
        const std::uint64_t size = pick(kMaxSize);
        note("ftruncate " + std::to_string(size));
        const int rc = ::ftruncate(f.fd, static_cast<off_t>(size));
        expect_errno("ftruncate", 0, rc == 0 ? 0 : errno);
        if (rc == 0) inodes_[f.inode].data.resize(size, '\0');
        check_size(f, "ftruncate");
    }

    void do_truncate() {
        const std::string n = name();
        const std::uint64_t size = pick(kMaxSize);
        note("truncate " + n + " " + std::to_string(size));
        const int rc = ::truncate(path(n).c_str(), static_cast<off_t>(size));
        Inode* in = inode_of_name(n);
        expect_errno("truncate " + n, in ? 0 : ENOENT, rc == 0 ? 0 : errno);
        if (rc == 0 && in) in->data.resize(size, '\0');
    }

    void do_fallocate(OpenFd& f) {
        const bool punch = pick(2) == 0;
        const std::uint64_t off = offset(false);
        const std::size_t n = length(false);
        note(std::string(punch ? "punch " : "zero ") + std::to_string(off) + "+" + std::to_string(n));
        const int mode = (punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE;
        const int rc = ::fallocate(f.fd, mode, static_cast<off_t>(off), static_cast<off_t>(n));
        expect_errno("fallocate", 0, rc == 0 ? 0 : errno);
        if (rc != 0) return;
        std::string& d = inodes_[f.inode].data;
        if (off < d.size())
            std::fill(d.begin() + static_cast<long>(off),
                      d.begin() + static_cast<long>(std::min<std::uint64_t>(off + n, d.size())), '\0');
    }

    void do_copy(OpenFd& to) {
        OpenFd& from = fds_[pick(fds_.size())];
        if (from.inode == to.inode || from.direct || to.direct) return;
        const std::uint64_t size = inodes_[from.inode].data.size();
        loff_t in_off = static_cast<loff_t>(pick(size + 1));
        loff_t out_off = static_cast<loff_t>(offset(false));
        const std::size_t n = length(false);
        note("copy_file_range " + std::to_string(in_off) + "+" + std::to_string(n) + " to " + std::to_string(out_off));
        const std::string want = model_read(from.inode, static_cast<std::uint64_t>(in_off), n);
        std::size_t done = 0;
        const auto out_start = static_cast<std::uint64_t>(out_off);
        while (done < n) {
            const ssize_t c = ::copy_file_range(from.fd, &in_off, to.fd, &out_off, n - done, 0);
            if (c < 0) return mismatch("copy_file_range", "ok", errno_text(errno));
            if (c == 0) break;
            done += static_cast<std::size_t>(c);
        }
        if (done != want.size()) mismatch("copy_file_range", std::to_string(want.size()), std::to_string(done));
        model_write(to.inode, out_start, want.substr(0, done));
    }

    void do_rename() {
        const std::string a = name(), b = name();
        note("rename " + a + " " + b);
        const int rc = ::rename(path(a).c_str(), path(b).c_str());
        auto ia = names_.find(a);
        if (ia == names_.end()) return expect_errno("rename " + a, ENOENT, rc == 0 ? 0 : errno);
        expect_errno("rename " + a + " " + b, 0, rc == 0 ? 0 : errno);
        if (rc != 0 || a == b) return;
        const int ino = ia->second;
        auto ib = names_.find(b);
        if (ib != names_.end() && ib->second != ino) {
            const int old = ib->second;
            names_[b] = ino;
            drop_link(old);
        } else if (ib != names_.end()) {
            // Two names of one inode: rename does nothing (POSIX).
            return;
        } else {
            names_[b] = ino;
        }
        names_.erase(a);
    }

    void do_unlink() {
        const std::string n = name();
        note("unlink " + n);
        const int rc = ::unlink(path(n).c_str());
        auto it = names_.find(n);
        if (it == names_.end()) return expect_errno("unlink " + n, ENOENT, rc == 0 ? 0 : errno);
        expect_errno("unlink " + n, 0, rc == 0 ? 0 : errno);
        if (rc != 0) return;
        const int ino = it->second;
        names_.erase(it);
        drop_link(ino);
    }

    void do_link() {
        const std::string a = name(), b = name();
        note("link " + a + " " + b);
        const int rc = ::link(path(a).c_str(), path(b).c_str());
        auto ia = names_.find(a);
        const int want = ia == names_.end() ? ENOENT : names_.count(b) ? EEXIST : 0;
        expect_errno("link " + a + " " + b, want, rc == 0 ? 0 : errno);
        if (rc != 0 || want != 0) return;
        names_[b] = ia->second;
        ++inodes_[ia->second].links;
    }

    void do_fsync(OpenFd& f) {
        note("fsync");
        expect_errno("fsync", 0, ::fsync(f.fd) == 0 ? 0 : errno);
    }

    void do_mmap(OpenFd& f) {
        if (f.direct) return;
        std::string& d = inodes_[f.inode].data;
        if (d.empty()) return;
        const bool write = pick(2) == 0;
        const std::size_t len = d.size();
        note(std::string(write ? "mmap write " : "mmap read ") + std::to_string(len));
        // Pages past the end would fault (SIGBUS): the sizes must agree first.
        struct stat st {};
        if (::fstat(f.fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) != len)
            return mismatch("mmap: size", std::to_string(len), std::to_string(st.st_size));
        void* p = ::mmap(nullptr, len, PROT_READ | (write ? PROT_WRITE : 0), MAP_SHARED, f.fd, 0);
        if (p == MAP_FAILED) return mismatch("mmap", "ok", errno_text(errno));
        char* m = static_cast<char*>(p);
        if (write) {
            const std::uint64_t off = pick(len);
            const std::size_t n = std::min<std::size_t>(1 + pick(8000), len - off);
            const std::string data = bytes(n);
            std::memcpy(m + off, data.data(), n);
            if (::msync(p, len, MS_SYNC) != 0) mismatch("msync", "ok", errno_text(errno));
            d.replace(off, n, data);
        } else if (std::string_view(m, len) != d) {
            mismatch("mmap read", "the model's bytes", "others");
        }
        ::munmap(p, len);
    }

    void final_check() {
        if (o_.after_close) o_.after_close();
        const std::string dir = o_.final_dir.empty() ? dir_ : o_.final_dir;
        std::set<std::string> seen;
        for (const auto& e : std::filesystem::directory_iterator(dir)) seen.insert(e.path().filename().string());
        std::set<std::string> want;
        for (const auto& [n, ino] : names_) want.insert(n);
        if (seen != want) {
            std::string s, w;
            for (const auto& n : seen) s += n + " ";
            for (const auto& n : want) w += n + " ";
            mismatch("final names", w, s);
        }
        for (const auto& [n, ino] : names_) {
            const int fd = ::open((dir + "/" + n).c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                mismatch("final open " + n, "ok", errno_text(errno));
                continue;
            }
            std::string have;
            char buf[65536];
            ssize_t r;
            while ((r = ::read(fd, buf, sizeof buf)) > 0) have.append(buf, static_cast<std::size_t>(r));
            ::close(fd);
            if (have != inodes_[ino].data)
                mismatch("final contents of " + n, std::to_string(inodes_[ino].data.size()) + " bytes",
                         std::to_string(have.size()) + " other bytes");
        }
    }

    std::string dir_;
    ModelOptions o_;
    std::mt19937_64 rng_;
    int current_ = -1;  // the model inode of the descriptor the step uses; -1: none
    std::uint64_t op_ = 0;
    std::map<int, Inode> inodes_;
    std::map<std::string, int> names_;
    std::vector<OpenFd> fds_;
    int next_inode_ = 1;
    ModelResult result_;
};

}  // namespace

ModelResult run_posix_model(const std::string& dir, const ModelOptions& options) { return Run(dir, options).run(); }

}  // namespace bcl::test
