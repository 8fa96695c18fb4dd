// End-to-end: sequential I/O past sequential_cutoff skips the cache through
// a mount. A large sequential read is served from the backing file without
// filling the cache while random 4K reads are still cached; a large
// sequential write in writeback mode goes to the backing file; root turns
// bypass off with sequential_cutoff=0; the knobs answer EINVAL to bad
// values and EPERM to anyone but root.
//
// Requests are O_DIRECT and of 128 KiB at most, so the daemon sees them one
// at a time and in order, as the kernel does not split or reorder them; but
// one test reads through the page cache as dd does, so that readahead's
// requests come out of order, and a 64 MiB read must still insert at most
// the cutoff and one window.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "bcachefs_lite/cache/sequential_stream.h"
#include "cache_e2e.h"

namespace bcl::test {
namespace {

constexpr std::size_t kChunk = 128 << 10;
constexpr std::uint64_t kCutoff = 1 << 20;

class SequentialBypassE2eTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        // Congestion off: a loaded machine must not keep the random reads
        // out of the cache.
        spec.options += ",sequential_cutoff=1M,congested_read_threshold_us=0,congested_write_threshold_us=0";
        if (writeback_) spec.options += ",mode=writeback";
        return spec;
    }
    std::optional<std::string> knob(const std::string& name) { return get_xattr(t().mnt(), attr(name)); }
    int set_knob(const std::string& name, const std::string& value) { return set_xattr(t().mnt(), attr(name), value); }

    // Reads `rel` through one O_DIRECT descriptor in kChunk requests, in
    // order; it must equal want.
    void read_sequentially(const std::string& rel, const std::string& want) {
        int fd = ::open(m(rel).c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
        ASSERT_GE(fd, 0) << std::strerror(errno);
        for (std::size_t off = 0; off < want.size(); off += kChunk) {
            auto got = pread_aligned(fd, off, std::min(kChunk, want.size() - off));
            ASSERT_TRUE(got.has_value()) << std::strerror(errno);
            ASSERT_TRUE(*got == want.substr(off, kChunk)) << rel << " differs at " << off;
        }
        ::close(fd);
    }

    bool writeback_ = false;
};

class SequentialBypassWritebackE2eTest : public SequentialBypassE2eTest {
protected:
    void SetUp() override {
        writeback_ = true;
        SequentialBypassE2eTest::SetUp();
    }
};

TEST_F(SequentialBypassE2eTest, ALargeSequentialReadIsServedWithoutFillingTheCache) {
    std::mt19937_64 rng(11);
    const std::string big = random_bytes(rng, 6 << 20);
    put_backing("big", big);
    read_sequentially("big", big);
    Stats s = stats();
    ASSERT_TRUE(s.ok()) << s.error();
    // The first 1M of the run is cached; the rest bypasses.
    EXPECT_GE(s["bypassed"], big.size() - kCutoff - kChunk) << s.text();
    EXPECT_GE(s["cache_bypass_misses"], 30u);
    EXPECT_LE(cached_bytes(m("big")).value_or(UINT64_MAX), kCutoff + kChunk);

    // Random 4K reads of another file are cached, every one.
    const std::string small = random_bytes(rng, 1 << 20);
    put_backing("small", small);
    int fd = ::open(m("small").c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    for (std::size_t i = 0; i < 256; ++i) {
        const std::size_t block = (i * 97) % 256;
        auto got = pread_aligned(fd, block * 4096, 4096);
        ASSERT_TRUE(got.has_value()) << std::strerror(errno);
        ASSERT_TRUE(*got == small.substr(block * 4096, 4096)) << block;
    }
    ::close(fd);
    EXPECT_EQ(cached_bytes(m("small")), small.size());
    EXPECT_EQ(stats()["bypassed"], s["bypassed"]) << "random reads never bypass";
}

// A 64 MiB file read through the page cache in 1 MiB read(2)s, as
// `dd bs=1M` reads: the kernel's readahead keeps several requests in flight
// and the daemon's worker threads take them up in any order (two swapped
// now and then, on a machine of two cores), and the run must survive that.
// The cache holds all of the file, so only bypass keeps it out. Whatever the
// order, at most the cutoff and one window (sequential_stream.h) go in.
class ReorderedReadaheadE2eTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        spec.cache_size = "128M";
        spec.options += ",sequential_cutoff=4M,congested_read_threshold_us=0,congested_write_threshold_us=0";
        return spec;
    }
};

TEST_F(ReorderedReadaheadE2eTest, ADdOfSixtyFourMiBInsertsAtMostTheCutoffAndOneWindow) {
    constexpr std::uint64_t kCutoff4M = 4 << 20;
    std::mt19937_64 rng(14);
    const std::string big = random_bytes(rng, 64 << 20);
    put_backing("big", big);
    int fd = ::open(m("big").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    std::string buf(1 << 20, '\0');
    std::size_t done = 0;
    for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0; done += static_cast<std::size_t>(n))
        ASSERT_TRUE(std::memcmp(buf.data(), big.data() + done, static_cast<std::size_t>(n)) == 0) << "at " << done;
    ::close(fd);
    ASSERT_EQ(done, big.size());
    const std::uint64_t cached = cached_bytes(m("big")).value_or(UINT64_MAX);
    const Stats s = stats();
    ASSERT_TRUE(s.ok()) << s.error();
    // The window: 1 MiB for requests of up to 512K (readahead's are 128K),
    // two requests above that, never more than kSequentialWindow.
    EXPECT_LE(cached, kCutoff4M + kSequentialWindow) << s.text();
    EXPECT_GE(s["bypassed"], big.size() - kCutoff4M - kSequentialWindow) << s.text();
}

TEST_F(SequentialBypassE2eTest, RootTurnsBypassOffWithACutoffOfZero) {
    EXPECT_EQ(knob("sequential_cutoff"), std::to_string(kCutoff));
    EXPECT_EQ(knob("congested_read_threshold_us"), "0");
    EXPECT_EQ(knob("congested_write_threshold_us"), "0");
    auto names = list_xattrs(t().mnt());
    ASSERT_TRUE(names.has_value());
    for (const char* name : {"sequential_cutoff", "congested_read_threshold_us", "congested_write_threshold_us",
                             "congested_skips", "bypassed"})
        EXPECT_NE(std::find(names->begin(), names->end(), attr(name)), names->end()) << name;

    ASSERT_EQ(set_knob("sequential_cutoff", "0"), 0);
    EXPECT_EQ(knob("sequential_cutoff"), "0");
    std::mt19937_64 rng(12);
    const std::string big = random_bytes(rng, 3 << 20);
    put_backing("big", big);
    read_sequentially("big", big);
    EXPECT_EQ(cached_bytes(m("big")), big.size());
    EXPECT_EQ(stats()["bypassed"], 0u);

    // Sizes as the mount options take them.
    EXPECT_EQ(set_knob("sequential_cutoff", "512K\n"), 0);
    EXPECT_EQ(knob("sequential_cutoff"), "524288");
    EXPECT_EQ(set_knob("congested_write_threshold_us", "30000"), 0);
    EXPECT_EQ(knob("congested_write_threshold_us"), "30000");
}

TEST_F(SequentialBypassE2eTest, BadValuesAreRefusedAndOnlyRootChangesThem) {
    const std::pair<std::string, std::string> bad[] = {
        {"sequential_cutoff", "lots"},
        {"sequential_cutoff", "4G"},
        {"sequential_cutoff", "-1"},
        {"congested_read_threshold_us", "1.5"},
        {"congested_write_threshold_us", "99999999999"},
    };
    for (const auto& [name, value] : bad) EXPECT_EQ(set_knob(name, value), EINVAL) << name << "=" << value;
    EXPECT_EQ(knob("sequential_cutoff"), std::to_string(kCutoff));
    EXPECT_EQ(set_knob("congested_skips", "0"), EPERM) << "a statistic";

    ASSERT_EQ(::chmod(t().mnt().c_str(), 0777), 0) << std::strerror(errno);
    int as_nobody = run_as(kNobody, kNogroup, [&] {
        if (get_xattr(t().mnt(), attr("sequential_cutoff")) != std::to_string(kCutoff)) return 10;
        if (set_xattr(t().mnt(), attr("sequential_cutoff"), "0") != EPERM) return 11;
        if (set_xattr(t().mnt(), attr("congested_read_threshold_us"), "5") != EPERM) return 12;
        return 0;
    });
    EXPECT_EQ(as_nobody, 0) << "10: unreadable, 11-12: a knob set by someone else than root";
    EXPECT_EQ(knob("sequential_cutoff"), std::to_string(kCutoff));
}

TEST_F(SequentialBypassWritebackE2eTest, ALargeSequentialWriteGoesToTheBackingFile) {
    std::mt19937_64 rng(13);
    const std::string data = random_bytes(rng, 4 << 20);
    int fd = ::open(m("w").c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    void* buf = nullptr;
    ASSERT_EQ(::posix_memalign(&buf, 4096, kChunk), 0);
    for (std::size_t off = 0; off < data.size(); off += kChunk) {
        std::memcpy(buf, data.data() + off, kChunk);
        ASSERT_EQ(::pwrite(fd, buf, kChunk, static_cast<off_t>(off)), static_cast<ssize_t>(kChunk))
            << std::strerror(errno);
    }
    std::free(buf);
    ASSERT_EQ(::close(fd), 0);
    const Stats s = stats();
    ASSERT_TRUE(s.ok()) << s.error();
    // Only the start of the run is dirty; the rest is in the backing file.
    EXPECT_LE(s["dirty_data"], kCutoff) << s.text();
    EXPECT_GE(s["bypassed"], data.size() - kCutoff) << s.text();
    auto backing = read_whole(b("w"));
    ASSERT_TRUE(backing.has_value());
    ASSERT_EQ(backing->size(), data.size());
    EXPECT_TRUE(backing->substr(kCutoff) == data.substr(kCutoff)) << "the bypassed part is in the backing file";
    expected_["w"] = data;
    expect_all_read_back(true);
}

}  // namespace
}  // namespace bcl::test
