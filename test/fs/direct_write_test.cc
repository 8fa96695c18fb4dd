// End-to-end: a write through a descriptor opened with O_DIRECT reaches the
// backing store past its page cache, in writethrough (through the engine)
// and with the cache off (mode=none, through the passthrough), as the
// application asked; a buffered write, the control, lands in the backing
// page cache. Unaligned O_DIRECT writes still work (buffered inside).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

constexpr std::size_t kPage = 4096;

// How many of the first `pages` pages of the file are in the page cache;
// nullopt when that cannot be asked.
std::optional<std::size_t> resident_pages(const std::string& path, std::size_t pages) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    void* map = ::mmap(nullptr, pages * kPage, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return std::nullopt;
    std::vector<unsigned char> vec(pages);
    const int r = ::mincore(map, pages * kPage, vec.data());
    ::munmap(map, pages * kPage);
    if (r != 0) return std::nullopt;
    std::size_t n = 0;
    for (unsigned char v : vec) n += v & 1;
    return n;
}

// Writes `data` at `offset` of `path` through a new descriptor opened with
// `flags`, from page-aligned memory; the errno, or 0.
int write_with(const std::string& path, int flags, std::uint64_t offset, const std::string& data) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
    if (fd < 0) return errno;
    void* buf = std::aligned_alloc(kPage, (data.size() + kPage - 1) / kPage * kPage);
    std::memcpy(buf, data.data(), data.size());
    const ssize_t n = ::pwrite(fd, buf, data.size(), static_cast<off_t>(offset));
    const int err = n < 0 ? errno : n == static_cast<ssize_t>(data.size()) ? 0 : EIO;
    std::free(buf);
    ::close(fd);
    return err;
}

class DirectWriteTest : public CacheMountTest {
protected:
    void SetUp() override {
        CacheMountTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        int fd = ::open(b("probe").c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
        if (fd < 0) GTEST_SKIP() << "the backing file system refuses O_DIRECT: " << std::strerror(errno);
        ::close(fd);
        ::unlink(b("probe").c_str());
    }

    void expect_direct_writes_bypass_the_backing_page_cache() {
        std::mt19937_64 rng(77);
        const std::string data = random_bytes(rng, 16 * kPage);
        // The control: a buffered write is in the backing page cache.
        ASSERT_EQ(write_with(m("buffered"), 0, 0, data), 0);
        auto buffered = resident_pages(b("buffered"), 16);
        if (!buffered) GTEST_SKIP() << "mincore is not available here";
        ASSERT_EQ(buffered, 16u) << "the control failed: a buffered write left the page cache empty";

        ASSERT_EQ(write_with(m("direct"), O_DIRECT, 0, data), 0);
        EXPECT_EQ(resident_pages(b("direct"), 16), 0u) << "an O_DIRECT write stopped in the backing page cache";
        EXPECT_TRUE(read_file(b("direct")) == data);
        EXPECT_TRUE(read_file(m("direct")) == data);

        // Unaligned: accepted, and correct.
        const std::string tail = random_bytes(rng, 1000);
        ASSERT_EQ(write_with(m("direct"), O_DIRECT, 5 * kPage + 100, tail), 0);
        std::string expected = data;
        expected.replace(5 * kPage + 100, tail.size(), tail);
        EXPECT_TRUE(read_file(b("direct")) == expected);
        EXPECT_TRUE(read_file(m("direct")) == expected);
    }
};

TEST_F(DirectWriteTest, WritethroughSendsODirectWritesPastTheBackingPageCache) {
    expect_direct_writes_bypass_the_backing_page_cache();
}

class DirectWriteModeNoneTest : public DirectWriteTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = DirectWriteTest::mount_spec();
        spec.options += ",mode=none";
        return spec;
    }
};

TEST_F(DirectWriteModeNoneTest, ThePassthroughSendsODirectWritesPastTheBackingPageCache) {
    expect_direct_writes_bypass_the_backing_page_cache();
}

}  // namespace
}  // namespace bcl::test
