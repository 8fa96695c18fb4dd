// End-to-end: in writethrough mode the backing directory may change behind
// the cache's back (DESIGN.md, invariant 5). After a file was cached, it is
// modified, truncated or replaced directly in the backing directory; a later
// open and read through the mount returns the new contents. The mount runs
// with actimeo=0 (so entry_timeout and attr_timeout are 0 too): the kernel
// asks the daemon, and the daemon checks the backing file before every open
// and read; coherency_window_e2e_test.cc covers a window.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

class BackingChangeTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec;
        spec.options = "allow_other,default_permissions,actimeo=0";
        return spec;
    }
    // Caches `rel` (reads it twice through the mount, checks it is cached),
    // then waits until the clock that stamps mtime and ctime has moved past
    // the file's timestamps: a change made after this carries timestamps
    // different from those the cache recorded. Without the wait, a change
    // of the same size within one clock tick would be indistinguishable by
    // design (identity, size, mtime and ctime are what the cache compares).
    void cache_then_let_clock_pass(const std::string& rel) {
        for (int i = 0; i < 2; ++i) ASSERT_EQ(read_whole(m(rel)), expected_[rel]) << rel;
        auto cached = cached_bytes(m(rel));
        ASSERT_TRUE(cached.has_value());
        ASSERT_GT(*cached, 0u) << rel << " did not get cached";
        struct stat st {};
        ASSERT_EQ(::stat(b(rel).c_str(), &st), 0);
        const struct timespec& later =
            (st.st_ctim.tv_sec > st.st_mtim.tv_sec ||
             (st.st_ctim.tv_sec == st.st_mtim.tv_sec && st.st_ctim.tv_nsec > st.st_mtim.tv_nsec))
                ? st.st_ctim
                : st.st_mtim;
        ASSERT_TRUE(wait_for_clock_past(later));
    }

    // A new open through the mount reads `want`, buffered and O_DIRECT, and
    // again (after the new contents may have been cached).
    void expect_reads(const std::string& rel, const std::string& want, const std::string& step) {
        SCOPED_TRACE(step);
        expect_mount_reads(rel, want);
        struct stat ms {
        }, bs{};
        ASSERT_EQ(::stat(m(rel).c_str(), &ms), 0);
        ASSERT_EQ(::stat(b(rel).c_str(), &bs), 0);
        EXPECT_EQ(ms.st_size, bs.st_size);
        EXPECT_EQ(ms.st_ino, bs.st_ino);
    }
};

TEST_F(BackingChangeTest, ModifiedInPlaceWithTheSameSize) {
    std::mt19937_64 rng(21);
    put_backing("f", random_bytes(rng, 256 << 10));
    cache_then_let_clock_pass("f");
    pwrite_backing("f", 70001, random_bytes(rng, 1000));
    expect_reads("f", expected_["f"], "after an in-place change");
    // And once more, now that the new contents may be cached.
    cache_then_let_clock_pass("f");
    pwrite_backing("f", 0, random_bytes(rng, 4096));
    expect_reads("f", expected_["f"], "after a second in-place change");
}

TEST_F(BackingChangeTest, ModifiedWithTheOldMtimeRestored) {
    // As `cp -p` or `rsync -t` leave it: new bytes, same size, same mtime;
    // only ctime tells.
    std::mt19937_64 rng(22);
    put_backing("f", random_bytes(rng, 100000));
    cache_then_let_clock_pass("f");
    struct stat st {};
    ASSERT_EQ(::stat(b("f").c_str(), &st), 0);
    pwrite_backing("f", 5000, random_bytes(rng, 50000));
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, b("f").c_str(), times, 0), 0);
    expect_reads("f", expected_["f"], "after a change that kept size and mtime");
}

TEST_F(BackingChangeTest, AppendedTo) {
    std::mt19937_64 rng(23);
    put_backing("f", random_bytes(rng, 10000));
    cache_then_let_clock_pass("f");
    pwrite_backing("f", 10000, random_bytes(rng, 70000));
    expect_reads("f", expected_["f"], "after an append");
}

TEST_F(BackingChangeTest, TruncatedThenGrown) {
    std::mt19937_64 rng(24);
    put_backing("f", random_bytes(rng, 300000));
    cache_then_let_clock_pass("f");
    ASSERT_EQ(::truncate(b("f").c_str(), 1000), 0);
    expected_["f"].resize(1000);
    expect_reads("f", expected_["f"], "after a shrink");
    cache_then_let_clock_pass("f");
    ASSERT_EQ(::truncate(b("f").c_str(), 300000), 0);
    expected_["f"].resize(300000, '\0');
    expect_reads("f", expected_["f"], "after growing again: zeros, never the old bytes");
}

TEST_F(BackingChangeTest, ReplacedByRename) {
    std::mt19937_64 rng(25);
    put_backing("f", random_bytes(rng, 200000));
    cache_then_let_clock_pass("f");
    std::string fresh = random_bytes(rng, 200000);
    ASSERT_TRUE(write_file(b("f.tmp"), fresh));
    ASSERT_EQ(::rename(b("f.tmp").c_str(), b("f").c_str()), 0);
    expected_.erase("f");
    expect_reads("f", fresh, "after the backing file was replaced by a rename");
}

TEST_F(BackingChangeTest, UnlinkedAndRecreatedWithTheSameSize) {
    std::mt19937_64 rng(26);
    for (int round = 0; round < 8; ++round) {
        put_backing("f", random_bytes(rng, 65536));
        cache_then_let_clock_pass("f");
        ASSERT_EQ(::unlink(b("f").c_str()), 0);
        put_backing("f", random_bytes(rng, 65536));
        expect_reads("f", expected_["f"], "round " + std::to_string(round));
        if (HasFailure()) return;
    }
}

TEST_F(BackingChangeTest, ChangedWhileOpenThroughTheMount) {
    std::mt19937_64 rng(27);
    put_backing("f", random_bytes(rng, 128 << 10));
    cache_then_let_clock_pass("f");
    // An open descriptor of the old contents does not keep them alive for
    // the next open.
    int fd = ::open(m("f").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    pwrite_backing("f", 4096, random_bytes(rng, 8192));
    expect_reads("f", expected_["f"], "while an older descriptor is open");
    ::close(fd);
}

TEST_F(BackingChangeTest, ChangedBehindTheBackIsSeenThroughAnOpenDescriptor) {
    // No new open after the change: the reads come through a descriptor
    // opened before it (O_DIRECT, so they reach the daemon, not the kernel's
    // page cache) and must not return the old contents from the cache.
    std::mt19937_64 rng(29);
    const std::size_t size = 128 << 10;
    put_backing("f", random_bytes(rng, size));
    const int fd = ::open(m("f").c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    struct CloseFd {
        int fd;
        ~CloseFd() { ::close(fd); }
    } closer{fd};
    for (int pass = 0; pass < 2; ++pass) {
        auto got = pread_aligned(fd, 0, size);
        ASSERT_TRUE(got.has_value());
        ASSERT_TRUE(*got == expected_["f"]) << "pass " << pass;
    }
    ASSERT_GT(cached_bytes(m("f")).value_or(0), 0u);
    cache_then_let_clock_pass("f");
    pwrite_backing("f", 4096, random_bytes(rng, 8192));
    auto got = pread_aligned(fd, 0, size);
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(*got == expected_["f"]) << "the open descriptor was served the old contents";
}

TEST_F(BackingChangeTest, ManyFilesChangedBehindTheCache) {
    std::mt19937_64 rng(28);
    for (int i = 0; i < 12; ++i) put_backing("g" + std::to_string(i), random_bytes(rng, rng() % (600 << 10)));
    expect_all_read_back();
    expect_all_read_back();
    struct stat st {};
    ASSERT_EQ(::stat(b("g11").c_str(), &st), 0);
    ASSERT_TRUE(wait_for_clock_past(st.st_ctim));
    for (int i = 0; i < 12; i += 2) {
        std::string rel = "g" + std::to_string(i);
        std::size_t size = expected_[rel].size();
        if (i % 4 == 0) {
            pwrite_backing(rel, size / 2, random_bytes(rng, 1 + size / 4));
        } else {
            put_backing(rel, random_bytes(rng, rng() % (600 << 10)));
        }
    }
    expect_all_read_back();
    expect_all_read_back(/*direct=*/true);
}

}  // namespace
}  // namespace bcl::test
