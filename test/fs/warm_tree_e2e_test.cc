// End-to-end: a warm tree within the coherency window, in front of the
// slow, counting backing (slow_backing.h). The fixture mounts with
// entry_timeout=0 and attr_timeout=0, so every path walk and stat reaches
// the daemon: within the window the daemon answers lookups, stats, listings
// and opens of cached files from what it remembers, with no backing call,
// also after the kernel forgot every inode. Changes of names through the
// mount show at once; changes behind its back once the window is over.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstring>
#include <optional>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "slow_backing.h"

namespace bcl::test {
namespace {

namespace stdfs = std::filesystem;

class WarmTreeTest : public SlowBackingTest {
protected:
    // d1/{a,b,c} and d2/{e,f} beside the fixture's f, each file its own bytes.
    void make_tree() {
        for (const char* d : {"/d1", "/d2"}) ASSERT_EQ(::mkdir((real_ + d).c_str(), 0755), 0);
        for (const char* f : {"d1/a", "d1/b", "d1/c", "d2/e", "d2/f"})
            ASSERT_TRUE(write_file(real_ + "/" + f, std::string(20000, f[3])));
    }
    // Every file below the mount (relative path -> content), listed,
    // stat'ed and read.
    std::map<std::string, std::string> walk() {
        std::map<std::string, std::string> out;
        const stdfs::path root = mount_->mnt();
        std::error_code ec;
        for (auto it = stdfs::recursive_directory_iterator(root, ec); !ec && it != stdfs::end(it); it.increment(ec)) {
            struct stat st {};
            if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
            out[stdfs::relative(it->path(), root).string()] = read_file(it->path()).value_or("<unreadable>");
        }
        EXPECT_FALSE(ec) << ec.message();
        return out;
    }
    std::set<std::string> names(const std::string& dir) {
        std::set<std::string> out;
        std::error_code ec;
        for (const auto& e : stdfs::directory_iterator(mount_->m(dir), ec)) out.insert(e.path().filename());
        return out;
    }
    // True once `condition` holds, within 10 s.
    static bool within_10s(const std::function<bool()>& condition) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!condition()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::yield();
        }
        return true;
    }
    // Opens `name` below the mount for writing; closed when the test ends,
    // before the unmount.
    int open_for_writing(const std::string& name) {
        const int fd = ::open(mount_->m(name).c_str(), O_WRONLY | O_CLOEXEC);
        if (fd >= 0) write_fds_.push_back(fd);
        return fd;
    }
    void TearDown() override {
        if (slow_) slow_->bring_back();  // a close may flush to the backing
        for (const int fd : write_fds_) ::close(fd);
        SlowBackingTest::TearDown();
    }
    std::vector<int> write_fds_;
    // A thread whose call on the stalled backing hangs: the backing is
    // brought back before the join, whichever way the test ends.
    struct StalledCall {
        SlowBacking& slow;
        std::thread thread;
        ~StalledCall() { join(); }
        void join() {
            if (!thread.joinable()) return;
            slow.bring_back();
            thread.join();
        }
    };
    // The backing calls that a warm walk must not make.
    unsigned long backing_calls() {
        auto c = slow_->counters();
        return c["lookup"] + c["getattr"] + c["open"] + c["read"] + c["opendir"] + c["readdir"] + c["release"] +
               c["releasedir"] + c["access"];
    }
};

TEST_F(WarmTreeTest, AWarmWalkWithinTheWindowMakesNoBackingCallAlsoAfterTheKernelForgotItsInodes) {
    mount_both("", "actimeo=60");
    make_tree();
    const auto first = walk();  // caches the data
    ASSERT_EQ(first.size(), 6u);
    EXPECT_EQ(first.at("d1/b"), std::string(20000, 'b'));
    ASSERT_EQ(walk(), first);  // opens each file once more: the grants
    const unsigned long calls = backing_calls();
    for (int i = 0; i < 2; ++i) EXPECT_EQ(walk(), first);
    EXPECT_EQ(backing_calls(), calls) << "a warm walk called the backing";
    ::sync();
    ASSERT_TRUE(write_file("/proc/sys/vm/drop_caches", "2"));
    EXPECT_EQ(walk(), first);
    EXPECT_EQ(backing_calls(), calls) << "after drop_caches";
}

TEST_F(WarmTreeTest, NameChangesThroughTheMountShowAtOnce) {
    mount_both("", "actimeo=60");
    make_tree();
    ASSERT_EQ(walk().size(), 6u);
    ASSERT_EQ(walk().size(), 6u);
    ASSERT_EQ(::unlink(mount_->m("d1/a").c_str()), 0);
    struct stat st {};
    EXPECT_EQ(::stat(mount_->m("d1/a").c_str(), &st), -1);
    EXPECT_EQ(errno, ENOENT);
    ASSERT_EQ(::rename(mount_->m("d1/b").c_str(), mount_->m("d2/b2").c_str()), 0);
    ASSERT_TRUE(write_file(mount_->m("d1/new"), "new"));
    ASSERT_EQ(::mkdir(mount_->m("d1/sub").c_str(), 0755), 0);
    EXPECT_EQ(names("d1"), (std::set<std::string>{"c", "new", "sub"}));
    EXPECT_EQ(names("d2"), (std::set<std::string>{"b2", "e", "f"}));
    EXPECT_EQ(read_file(mount_->m("d2/b2")).value_or(""), std::string(20000, 'b'));
    EXPECT_EQ(::stat(mount_->m("d1/b").c_str(), &st), -1);
    ASSERT_EQ(::rmdir(mount_->m("d1/sub").c_str()), 0);
    ::sync();
    ASSERT_TRUE(write_file("/proc/sys/vm/drop_caches", "2"));
    EXPECT_EQ(names("d1"), (std::set<std::string>{"c", "new"}));
    EXPECT_EQ(read_file(mount_->m("d1/new")).value_or(""), "new");
    EXPECT_EQ(::stat(mount_->m("d1/a").c_str(), &st), -1);
}

TEST_F(WarmTreeTest, NameChangesBehindTheMountsBackShowOnceTheWindowIsOverAndNeverGoBack) {
    mount_both("", "actimeo=1");
    make_tree();
    ASSERT_EQ(walk().size(), 6u);
    ASSERT_EQ(::unlink((real_ + "/d1/a").c_str()), 0);
    ASSERT_TRUE(write_file(real_ + "/d1/z", "z"));
    const std::set<std::string> now{"b", "c", "z"};
    EXPECT_TRUE(within_10s([&] { return names("d1") == now; })) << "the listing did not change after the window";
    struct stat st {};
    EXPECT_TRUE(within_10s([&] { return ::stat(mount_->m("d1/a").c_str(), &st) == -1 && errno == ENOENT; }));
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(names("d1"), now) << "the old listing came back";
        EXPECT_EQ(::stat(mount_->m("d1/a").c_str(), &st), -1) << "the removed file came back";
        EXPECT_EQ(read_file(mount_->m("d1/z")).value_or(""), "z");
    }
}

TEST_F(WarmTreeTest, AfterTheWindowALookupThatFindsAFileUnchangedRenewsItsOpenWithoutABackingOpen) {
    mount_both("", "actimeo=1");
    make_tree();
    const auto first = walk();
    ASSERT_EQ(walk(), first);
    // A directory listed now, after every open of the walks: a name added
    // to it behind the mount's back shows once the window is over, for it
    // and for every grant.
    ASSERT_EQ(::mkdir((real_ + "/m").c_str(), 0755), 0);
    ASSERT_TRUE(names("m").empty());
    ASSERT_TRUE(write_file(real_ + "/m/x", "x"));
    ASSERT_TRUE(within_10s([&] { return names("m").count("x") == 1; }));
    const unsigned long opens = slow_->counters()["open"], reads = slow_->counters()["read"];
    auto again = walk();
    EXPECT_EQ(again["m/x"], "x");
    again.erase("m/x");
    EXPECT_EQ(again, first);
    // Each file was looked up (and listed) again, and found unchanged: the
    // earlier open stands and the data is the cache's.
    EXPECT_EQ(slow_->counters()["open"], opens + 1) << "only the new file is opened on the backing";
    EXPECT_EQ(slow_->counters()["read"], reads + 1);
}

TEST_F(WarmTreeTest, AfterACleanRemountAWarmTreeIsReadWithoutOpeningItsUnchangedFilesOnTheBacking) {
    mount_both("", "actimeo=60");
    make_tree();
    auto first = walk();
    ASSERT_EQ(walk(), first);  // every file opened and cached: the grants
    const auto stopped = mount_->stop();
    ASSERT_TRUE(stopped && WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << "the daemon did not stop cleanly";
    // While unmounted: one file rewritten, one chmod'ed (its ctime moves).
    ASSERT_TRUE(write_file(real_ + "/d1/b", "rewritten"));
    ASSERT_EQ(::chmod((real_ + "/d2/e").c_str(), 0640), 0);
    first["d1/b"] = "rewritten";
    ASSERT_TRUE(mount_->start()) << mount_->error();
    const unsigned long opens = slow_->counters()["open"], reads = slow_->counters()["read"];
    EXPECT_TRUE(walk() == first) << "old data or names after the remount";
    // Each file was looked up once and found as the last mount's grant
    // found it, so that grant stands; the two changed files are opened.
    EXPECT_EQ(slow_->counters()["open"], opens + 2) << "unchanged files were opened on the backing";
    // The engine takes a new ctime for a change of the file (as it does
    // within a mount): both changed files are read again, no other.
    EXPECT_EQ(slow_->counters()["read"], reads + 2) << "unchanged files were read from the backing";
}

TEST_F(WarmTreeTest, OverAFuseBackingTheFirstLookupInADirectoryListsItOnce) {
    mount_both("", "actimeo=60");
    make_tree();
    const auto c0 = slow_->counters();
    struct stat st {};
    for (const char* f : {"d1/a", "d1/b", "d2/e", "f", "d1/c", "d2/f", "d1/none"})
        ASSERT_EQ(::stat(mount_->m(f).c_str(), &st), std::strcmp(f, "d1/none") == 0 ? -1 : 0) << f;
    auto c1 = slow_->counters();
    // The root, d1 and d2: one listing each, before their first lookup.
    EXPECT_EQ(c1["opendir"] - c0.at("opendir"), 3u);
    EXPECT_GE(c1["readdir"] - c0.at("readdir"), 3u);
    // A directory listed through the mount is not listed again for lookups.
    ASSERT_EQ(::mkdir((real_ + "/d3").c_str(), 0755), 0);
    ASSERT_TRUE(write_file(real_ + "/d3/g", "g"));
    EXPECT_EQ(names("d3"), (std::set<std::string>{"g"}));
    c1 = slow_->counters();
    ASSERT_EQ(::stat(mount_->m("d3/g").c_str(), &st), 0);
    EXPECT_EQ(slow_->counters()["opendir"], c1["opendir"]);
    // A large directory (past 64 KiB) is not listed for one lookup.
    ASSERT_EQ(::mkdir((real_ + "/big").c_str(), 0755), 0);
    const std::string stem(60, 'n');
    for (int i = 0; i < 2000; ++i) ASSERT_TRUE(write_file(real_ + "/big/" + stem + std::to_string(i), ""));
    ASSERT_EQ(::stat((real_ + "/big").c_str(), &st), 0);
    ASSERT_GT(st.st_size, 64 << 10) << "the backing's directory is too small to test the bound";
    c1 = slow_->counters();
    ASSERT_EQ(::stat(mount_->m("big/" + stem + "7").c_str(), &st), 0);
    EXPECT_EQ(slow_->counters()["opendir"], c1["opendir"]);
}

TEST_F(WarmTreeTest, AWarmTreeStaysReadableWhileTheBackingDoesNotAnswerAfterTheWindow) {
    mount_both("", "actimeo=60");
    make_tree();
    ASSERT_TRUE(write_file(real_ + "/d1/later", "later"));
    const auto first = walk();
    ASSERT_EQ(walk(), first);
    ASSERT_TRUE(write_file(real_ + "/d2/uncached", "u"));
    // The window ends for everything at once; then the backing goes.
    ASSERT_EQ(set_xattr(mount_->mnt(), "user.bcachefs_lite.actimeo", "0"), 0) << std::strerror(errno);
    slow_->cut_off();
    const std::string backing_f = mount_->backing() + "/f";
    ASSERT_TRUE(within_10s([&] { return !read_file(backing_f).has_value() && errno == ENOTCONN; }));

    EXPECT_EQ(walk(), first) << "listed, stat'ed, opened and read from what the daemon remembers";
    EXPECT_EQ(names("d1"), (std::set<std::string>{"a", "b", "c", "later"}));
    errno = 0;
    EXPECT_FALSE(read_file(mount_->m("d2/uncached")).has_value()) << "never looked up: no entry";
    EXPECT_EQ(errno, ENOTCONN);
    const int w = ::open(mount_->m("d1/a").c_str(), O_WRONLY | O_CLOEXEC);
    EXPECT_EQ(w, -1) << "a write needs the backing";
    EXPECT_EQ(errno, ENOTCONN);
    if (w >= 0) ::close(w);
    const Stats offline = Stats::read(mount_->mnt());
    ASSERT_TRUE(offline.ok()) << offline.error();
    EXPECT_EQ(offline["backing_offline"], 1u);
    EXPECT_GT(offline["offline_reads"], 0u);

    slow_->bring_back();
    ASSERT_TRUE(within_10s([&] { return read_file(backing_f).has_value(); }));
    EXPECT_EQ(read_file(mount_->m("d2/uncached")).value_or(""), "u");
    const Stats back = Stats::read(mount_->mnt());
    ASSERT_TRUE(back.ok()) << back.error();
    EXPECT_EQ(back["backing_offline"], 0u);
}

// A backing that hangs instead of failing: past backing_timeout the call in
// flight takes the link down, and the rest of the warm tree is served from
// memory without joining it.
TEST_F(WarmTreeTest, AWarmTreeStaysReadableWhileACallOnTheBackingHangs) {
    mount_both("", "actimeo=60,backing_timeout=1");
    make_tree();
    ASSERT_EQ(::symlink("a", (real_ + "/d1/l").c_str()), 0);
    const auto first = walk();
    ASSERT_EQ(walk(), first);
    ASSERT_TRUE(write_file(real_ + "/d2/uncached", "u"));
    // A file open for writing, its backing file opened by a write of the
    // byte it holds (then read again, so that the cache holds it whole).
    const int wfd = open_for_writing("d1/a");
    ASSERT_GE(wfd, 0) << std::strerror(errno);
    ASSERT_EQ(::pwrite(wfd, first.at("d1/a").data(), 1, 0), 1) << std::strerror(errno);
    ASSERT_EQ(read_file(mount_->m("d1/a")), first.at("d1/a"));
    ASSERT_EQ(set_xattr(mount_->mnt(), "user.bcachefs_lite.actimeo", "0"), 0) << std::strerror(errno);
    slow_->stall();
    // The fixture's f hangs; the kernel would make a lookup of d1 or d2
    // wait for one of the same name in flight, so the hung file is beside
    // them.
    const auto calls = [&] {
        unsigned long n = 0;
        for (const auto& [name, count] : slow_->counters()) n += count;
        return n;
    };
    const unsigned long before = calls();
    std::optional<std::string> hung_read;
    std::atomic<bool> returned{false};
    StalledCall reader{*slow_, std::thread([&] {
                           hung_read = read_file(mount_->m("f"));
                           returned.store(true);
                       })};
    // Nothing else may reach the mount until the link is down: it would
    // hang with the first call (the counters are slowfs's own, and the log
    // is the daemon's).
    ASSERT_TRUE(within_10s([&] { return calls() > before; })) << "the read reached the backing";
    ASSERT_TRUE(within_10s([&] {
        return mount_->daemon_log().find("backing directory not answering: a call has waited") != std::string::npos;
    }));
    const auto offline = [&] {
        const Stats stats = Stats::read(mount_->mnt());
        return stats.ok() && stats["backing_offline"] == 1;
    };
    ASSERT_TRUE(within_10s(offline)) << "the hung call takes the link down";

    // Should a call below wait on the backing after all, the backing comes
    // back after 20 s, so that the test fails on the time taken instead of
    // hanging.
    struct Watchdog {
        explicit Watchdog(SlowBacking& backing) : slow(backing) {}
        SlowBacking& slow;
        std::mutex mutex;
        std::condition_variable done_cv;
        bool done = false;
        std::thread thread{[this] {
            std::unique_lock lk(mutex);
            if (!done_cv.wait_for(lk, std::chrono::seconds(20), [this] { return done; })) slow.bring_back();
        }};
        ~Watchdog() {
            {
                std::lock_guard lk(mutex);
                done = true;
            }
            done_cv.notify_all();
            thread.join();
        }
    } watchdog(*slow_);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(names(""), (std::set<std::string>{"d1", "d2", "f"}));
    EXPECT_EQ(names("d1"), (std::set<std::string>{"a", "b", "c", "l"}));
    EXPECT_EQ(names("d2"), (std::set<std::string>{"e", "f"}));
    for (const char* f : {"d1/a", "d1/b", "d1/c", "d2/e", "d2/f"}) {
        struct stat st {};
        EXPECT_EQ(::stat(mount_->m(f).c_str(), &st), 0) << f << ": " << std::strerror(errno);
        EXPECT_EQ(st.st_size, 20000) << f;
        EXPECT_EQ(read_file(mount_->m(f)), first.at(f)) << f;
    }
    errno = 0;
    EXPECT_FALSE(read_file(mount_->m("d2/uncached")).has_value()) << "never looked up: no entry";
    EXPECT_TRUE(errno == ETIMEDOUT || errno == ENOTCONN) << std::strerror(errno);
    const int w = ::open(mount_->m("d1/a").c_str(), O_WRONLY | O_CLOEXEC);
    EXPECT_EQ(w, -1) << "a write needs the backing";
    EXPECT_EQ(errno, ETIMEDOUT) << std::strerror(errno);
    if (w >= 0) ::close(w);
    // Every other call that needs the backing fails at once too.
    const auto fails_at_once = [](const char* what, int r) {
        const int err = errno;
        EXPECT_EQ(r, -1) << what;
        EXPECT_EQ(err, ETIMEDOUT) << what << ": " << std::strerror(err);
    };
    fails_at_once("mkdir", ::mkdir(mount_->m("d1/new").c_str(), 0755));
    fails_at_once("unlink", ::unlink(mount_->m("d1/b").c_str()));
    fails_at_once("rename", ::rename(mount_->m("d1/b").c_str(), mount_->m("d1/b2").c_str()));
    fails_at_once("chmod", ::chmod(mount_->m("d1/a").c_str(), 0600));
    fails_at_once("setxattr", ::setxattr(mount_->m("d1/a").c_str(), "user.x", "1", 1, 0));
    char target[16];
    fails_at_once("readlink", static_cast<int>(::readlink(mount_->m("d1/l").c_str(), target, sizeof target)));
    struct statvfs sv {};
    fails_at_once("statvfs", ::statvfs(mount_->mnt().c_str(), &sv));
    // So do the calls on the file open for writing.
    fails_at_once("pwrite", static_cast<int>(::pwrite(wfd, "x", 1, 0)));
    fails_at_once("fsync", ::fsync(wfd));
    fails_at_once("fdatasync", ::fdatasync(wfd));
    fails_at_once("fallocate", ::fallocate(wfd, 0, 0, 4096));
    fails_at_once("SEEK_DATA", static_cast<int>(::lseek(wfd, 0, SEEK_DATA)));
    // The cache's own attributes are still listed.
    char names_buf[4096];
    const ssize_t listed = ::listxattr(mount_->m("d1/a").c_str(), names_buf, sizeof names_buf);
    ASSERT_GT(listed, 0) << std::strerror(errno);
    EXPECT_NE(std::string(names_buf, static_cast<std::size_t>(listed)).find("user.bcachefs_lite."), std::string::npos);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5)) << "nothing waited on the backing";
    EXPECT_FALSE(returned.load()) << "the first read still hangs";

    reader.join();
    EXPECT_EQ(hung_read, first.at("f")) << "the hung read returns once the backing is back";
    EXPECT_EQ(read_file(mount_->m("d1/a")), first.at("d1/a")) << "no write reached the file";
    ASSERT_TRUE(within_10s([&] {
        const Stats stats = Stats::read(mount_->mnt());
        return stats.ok() && stats["backing_offline"] == 0;
    }));
    EXPECT_EQ(read_file(mount_->m("d2/uncached")).value_or(""), "u");
}

// A write on a file already open that hangs is a call in flight like any
// other: past backing_timeout it takes the link down, and returns once the
// backing is back.
TEST_F(WarmTreeTest, AWriteThatHangsTakesTheLinkDownAndReturnsOnceTheBackingIsBack) {
    mount_both("", "backing_timeout=1");
    const int wfd = open_for_writing("f");
    ASSERT_GE(wfd, 0) << std::strerror(errno);
    ASSERT_EQ(::pwrite(wfd, "1", 1, 0), 1) << std::strerror(errno);
    // Every call on the backing (the write checks its file first).
    const auto calls = [&] {
        unsigned long n = 0;
        for (const auto& [name, count] : slow_->counters()) n += count;
        return n;
    };
    const unsigned long before = calls();
    slow_->stall();
    std::atomic<ssize_t> written{-2};
    StalledCall writer{*slow_, std::thread([&] { written.store(::pwrite(wfd, "2", 1, 1)); })};
    // Nothing else may reach the mount until the link is down: it would
    // hang with the write.
    ASSERT_TRUE(within_10s([&] { return calls() > before; })) << "the write reached the backing";
    ASSERT_TRUE(within_10s([&] {
        return mount_->daemon_log().find("backing directory not answering: a call has waited") != std::string::npos;
    })) << "the hung write takes the link down";
    const Stats stats = Stats::read(mount_->mnt());
    ASSERT_TRUE(stats.ok()) << stats.error();
    EXPECT_EQ(stats["backing_offline"], 1u);
    EXPECT_EQ(written.load(), -2) << "the write still hangs";
    writer.join();
    EXPECT_EQ(written.load(), 1);
    EXPECT_EQ(read_file(mount_->m("f")).value_or("").substr(0, 2), "12");
}

}  // namespace
}  // namespace bcl::test
