// End-to-end: data stays with its open handles in every mode. A file
// unlinked, or renamed over, while open keeps its data, readable and
// writable through the handle, until its last close, and never reaches the
// file that has its name now; hard links reach the same data by every
// name; across a SIGKILL of the daemon, nothing fsync'd of a named file is
// lost and the data of a file unlinked before it comes back nowhere.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

std::string pattern(std::uint64_t seed, std::size_t n) {
    std::mt19937_64 rng(seed);
    return random_bytes(rng, n);
}

// pread of the whole of [0, n) of fd.
std::string pread_all(int fd, std::size_t n) {
    std::string out(n, '\0');
    std::size_t done = 0;
    while (done < n) {
        const ssize_t r = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(done));
        if (r <= 0) break;
        done += static_cast<std::size_t>(r);
    }
    out.resize(done);
    return out;
}

// Where a and b first differ, for a failure message that stays short.
std::string first_difference(const std::string& a, const std::string& b) {
    if (a == b) return "equal";
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size()) + ", first difference at " +
           std::to_string(i);
}
#define EXPECT_SAME(a, b) EXPECT_EQ(first_difference((a), (b)), "equal")

// The names in dir (not recursive), sorted.
std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

bool pwrite_all(int fd, const std::string& data, off_t off) {
    return ::pwrite(fd, data.data(), data.size(), off) == static_cast<ssize_t>(data.size());
}

class UnlinkedOpenTest : public testing::TestWithParam<const char*> {
protected:
    void SetUp() override {
        if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        MountSpec spec;
        // Dirty data stays dirty until remount() flushes it.
        spec.options =
            std::string("allow_other,entry_timeout=0,attr_timeout=0,writeback_delay=3600,mode=") + GetParam();
        mount_ = std::make_unique<TestMount>(spec);
        ASSERT_TRUE(mount_->mounted()) << mount_->error();
    }
    void TearDown() override {
        for (int fd : fds_) ::close(fd);
        mount_.reset();
    }
    std::string m(const std::string& rel) { return mount_->m(rel); }
    std::string b(const std::string& rel) { return mount_->b(rel); }
    int open_fd(const std::string& path, int flags) {
        const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
        if (fd >= 0) fds_.push_back(fd);
        return fd;
    }
    void close_fd(int fd) {
        std::erase(fds_, fd);
        ::close(fd);
    }
    // Closes every descriptor, unmounts cleanly, mounts again and writes
    // back whatever is dirty (bcachefs-lite-ctl flush), so that the backing
    // directory can be compared.
    void remount() {
        for (int fd : fds_) ::close(fd);
        fds_.clear();
        ASSERT_TRUE(mount_->stop().has_value());
        ASSERT_TRUE(mount_->start()) << mount_->error();
        if (std::string(GetParam()) == "writeback") {
            RunResult flushed = run_flush_command(mount_->mnt());
            ASSERT_EQ(flushed.exit_code(), 0) << flushed.err;
        }
    }

    std::unique_ptr<TestMount> mount_;
    std::vector<int> fds_;
};

TEST_P(UnlinkedOpenTest, AFileUnlinkedWhileOpenKeepsItsDataUntilTheLastClose) {
    const std::string data = pattern(1, 200000);
    const int fd = open_fd(m("f"), O_CREAT | O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(pwrite_all(fd, data, 0));
    const int reader = open_fd(m("f"), O_RDONLY);
    ASSERT_GE(reader, 0);
    ASSERT_EQ(::unlink(m("f").c_str()), 0);
    EXPECT_SAME(pread_all(fd, data.size()), data);
    EXPECT_SAME(pread_all(reader, data.size()), data);
    // Still writable, and seen by the other handle.
    std::string now = data;
    const std::string patch = pattern(2, 50000);
    ASSERT_TRUE(pwrite_all(fd, patch, 100000));
    now.replace(100000, patch.size(), patch);
    ASSERT_TRUE(pwrite_all(fd, "tail", static_cast<off_t>(now.size())));
    now += "tail";
    EXPECT_SAME(pread_all(fd, now.size()), now);
    EXPECT_SAME(pread_all(reader, now.size()), now);
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    EXPECT_EQ(static_cast<std::size_t>(st.st_size), now.size());
    EXPECT_EQ(st.st_nlink, 0u);
    ASSERT_EQ(::ftruncate(fd, 150000), 0);
    EXPECT_SAME(pread_all(reader, now.size()), now.substr(0, 150000));
    // A new file under the name has none of it.
    ASSERT_TRUE(write_file(m("f"), "new"));
    EXPECT_EQ(read_file(m("f")), "new");
    close_fd(reader);
    close_fd(fd);
    remount();
    EXPECT_EQ(read_file(m("f")), "new");
    EXPECT_EQ(read_file(b("f")), "new");
}

TEST_P(UnlinkedOpenTest, AFileRenamedOverWhileOpenKeepsItsData) {
    const std::string old_data = pattern(3, 200000);
    const std::string new_data = pattern(4, 120000);
    const int fd = open_fd(m("a"), O_CREAT | O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(pwrite_all(fd, old_data, 0));
    // An editor's save: write a new file, rename it over the old one.
    ASSERT_TRUE(write_file(m("a.tmp"), new_data));
    ASSERT_EQ(::rename(m("a.tmp").c_str(), m("a").c_str()), 0);
    EXPECT_SAME(pread_all(fd, old_data.size()), old_data);
    EXPECT_SAME(read_file(m("a")).value_or(""), new_data);
    ASSERT_TRUE(pwrite_all(fd, "written after", 0));
    EXPECT_EQ(pread_all(fd, 13), "written after");
    EXPECT_SAME(read_file(m("a")).value_or(""), new_data) << "the open file's data reached the new one";
    close_fd(fd);
    remount();
    EXPECT_SAME(read_file(m("a")).value_or(""), new_data);
    EXPECT_SAME(read_file(b("a")).value_or(""), new_data);
}

TEST_P(UnlinkedOpenTest, HardLinksReachTheSameDataByEveryName) {
    const std::string data = pattern(5, 200000);
    const int fd = open_fd(m("x"), O_CREAT | O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(pwrite_all(fd, data, 0));
    ASSERT_EQ(::link(m("x").c_str(), m("y").c_str()), 0);
    EXPECT_SAME(read_file(m("y")).value_or(""), data);
    ASSERT_EQ(::unlink(m("x").c_str()), 0);
    EXPECT_SAME(read_file(m("y")).value_or(""), data);
    EXPECT_SAME(pread_all(fd, data.size()), data);
    std::string now = data;
    ASSERT_TRUE(pwrite_all(fd, "via the old handle", 1000));
    now.replace(1000, 18, "via the old handle");
    EXPECT_SAME(read_file(m("y")).value_or(""), now);
    close_fd(fd);
    remount();
    EXPECT_SAME(read_file(m("y")).value_or(""), now);
    EXPECT_SAME(read_file(b("y")).value_or(""), now);
    EXPECT_NE(::access(b("x").c_str(), F_OK), 0);
}

TEST_P(UnlinkedOpenTest, AfterASigkillNothingFsyncedIsLostAndUnlinkedDataComesBackNowhere) {
    const std::string gone = pattern(6, 200000);
    const std::string kept = pattern(7, 150000);
    const int fd = open_fd(m("f"), O_CREAT | O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(pwrite_all(fd, gone, 0));
    ASSERT_EQ(::fsync(fd), 0);
    ASSERT_EQ(::unlink(m("f").c_str()), 0);
    EXPECT_SAME(pread_all(fd, gone.size()), gone);
    // The name goes to another file, fsync'd.
    const int named = open_fd(m("f"), O_CREAT | O_RDWR | O_TRUNC);
    ASSERT_GE(named, 0);
    ASSERT_TRUE(pwrite_all(named, kept, 0));
    ASSERT_EQ(::fsync(named), 0);
    ASSERT_TRUE(write_file(m("g"), kept));
    const int g = open_fd(m("g"), O_RDONLY);
    ASSERT_GE(g, 0);
    ASSERT_EQ(::fsync(g), 0);
    ASSERT_TRUE(mount_->kill_daemon(SIGKILL).has_value());
    for (int f : fds_) ::close(f);
    fds_.clear();
    ASSERT_TRUE(mount_->start()) << mount_->error();
    EXPECT_SAME(read_file(m("f")).value_or(""), kept);
    EXPECT_SAME(read_file(m("g")).value_or(""), kept);
    remount();
    EXPECT_SAME(read_file(b("f")).value_or(""), kept);
    EXPECT_SAME(read_file(b("g")).value_or(""), kept);
    // Nothing else appeared.
    EXPECT_EQ(names_in(mount_->backing()), (std::vector<std::string>{"f", "g"}));
}

INSTANTIATE_TEST_SUITE_P(EveryMode, UnlinkedOpenTest,
                         testing::Values("writethrough", "writeback", "writearound", "none"));

}  // namespace
}  // namespace bcl::test
