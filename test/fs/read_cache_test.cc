// End-to-end: reads through the mount are cached and always equal the
// backing files. The mount runs without kernel_cache, so every new open
// drops the kernel's pages of the file and its reads reach the daemon;
// O_DIRECT opens send every pread to the daemon as it is.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

using ReadCacheTest = CacheMountTest;

// Sizes around block boundaries and end-of-file tails.
const std::vector<std::pair<std::string, std::size_t>> kAwkwardFiles = {
    {"empty", 0},           {"one", 1},
    {"tiny", 100},          {"block-minus-1", 4095},
    {"block", 4096},        {"block-plus-1", 4097},
    {"odd", 65536 + 13},    {"dir/nested", 300001},
    {"mib", (1 << 20) + 7}, {"several-mib", (5 << 20) + 333},
};

TEST_F(ReadCacheTest, SecondPassIsServedFromTheCache) {
    std::mt19937_64 rng(42);
    ASSERT_EQ(::mkdir(b("dir").c_str(), 0755), 0);
    std::uint64_t total = 0;
    for (const auto& [name, size] : kAwkwardFiles) {
        put_backing(name, random_bytes(rng, size));
        total += size;
    }
    Stats s0 = stats();
    ASSERT_TRUE(s0.ok()) << s0.error();

    expect_all_read_back();
    Stats s1 = stats();
    ASSERT_TRUE(s1.ok()) << s1.error();
    EXPECT_GT(s1["cache_misses"], s0["cache_misses"]);
    EXPECT_GE(s1["bytes_read_backing"] - s0["bytes_read_backing"], total);
    for (const auto& [name, size] : kAwkwardFiles) {
        auto cached = cached_bytes(m(name));
        ASSERT_TRUE(cached.has_value()) << name;
        if (size == 0) {
            EXPECT_EQ(*cached, 0u) << name;
        } else {
            EXPECT_GT(*cached, 0u) << name << " was read but nothing of it is cached";
        }
    }

    expect_all_read_back();
    Stats s2 = stats();
    ASSERT_TRUE(s2.ok()) << s2.error();
    EXPECT_GT(s2["cache_hits"], s1["cache_hits"]);
    EXPECT_GE(s2["bytes_read_cache"] - s1["bytes_read_cache"], total)
        << "every byte of the second pass came from the cache";
    EXPECT_EQ(s2["cache_misses"], s1["cache_misses"]) << s2.text();
    EXPECT_EQ(s2["bytes_read_backing"], s1["bytes_read_backing"]) << s2.text();

    // The same through O_DIRECT, which bypasses the kernel's pages.
    expect_all_read_back(/*direct=*/true);
    Stats s3 = stats();
    EXPECT_GT(s3["cache_hits"], s2["cache_hits"]);
    EXPECT_EQ(s3["cache_misses"], s2["cache_misses"]);
}

// Reads `ops` random ranges of the files in `files` (name -> contents)
// through O_DIRECT descriptors of the mount; the first mismatch or error,
// or empty.
std::string random_direct_reads(const std::string& mnt, const std::map<std::string, std::string>& files, int ops,
                                std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::pair<const std::string*, const std::string*>> list;
    for (const auto& [name, data] : files) list.emplace_back(&name, &data);
    std::vector<int> fds;
    for (const auto& [name, data] : list) {
        int fd = ::open((mnt + "/" + *name).c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (fd < 0) {
            for (int f : fds) ::close(f);
            return "open " + *name + ": " + std::strerror(errno);
        }
        fds.push_back(fd);
    }
    std::string failure;
    for (int op = 0; op < ops && failure.empty(); ++op) {
        std::size_t i = rng() % list.size();
        const std::string& data = *list[i].second;
        std::uint64_t span = data.size() + 8192;
        std::uint64_t offset = rng() % span;
        if (rng() % 4 == 0) offset &= ~std::uint64_t{4095};  // some aligned
        std::size_t len;
        switch (rng() % 4) {
        case 0: len = 1 + rng() % 16; break;
        case 1: len = 1 + rng() % 4096; break;
        case 2: len = 1 + rng() % 200000; break;
        default: len = 4096 * (1 + rng() % 64); break;
        }
        auto got = pread_aligned(fds[i], offset, len);
        if (!got) {
            failure = "pread " + *list[i].first + " at " + std::to_string(offset) + ": " + std::strerror(errno);
            break;
        }
        std::string want = offset >= data.size() ? std::string() : data.substr(offset, len);
        if (*got != want) {
            failure = *list[i].first + ": " + std::to_string(len) + " bytes at " + std::to_string(offset) +
                      " differ from the backing file (got " + std::to_string(got->size()) + " bytes, want " +
                      std::to_string(want.size()) + ")";
        }
    }
    for (int fd : fds) ::close(fd);
    return failure;
}

TEST_F(ReadCacheTest, RandomRangesEqualTheBackingFileByteForByte) {
    std::mt19937_64 rng(7);
    for (const auto& [name, size] : kAwkwardFiles) {
        if (name.find('/') == std::string::npos) put_backing(name, random_bytes(rng, size));
    }
    for (int i = 0; i < 8; ++i) put_backing("r" + std::to_string(i), random_bytes(rng, rng() % (3 << 20)));

    std::string failure = random_direct_reads(t().mnt(), expected_, 1500, 11);
    EXPECT_EQ(failure, "");
    Stats s1 = stats();
    EXPECT_GT(s1["cache_hits"], 0u) << "ranges read again were not served from the cache\n" << s1.text();
    EXPECT_GT(s1["bytes_read_cache"], 0u);

    // Whole files after the random pass, and the random pass again.
    expect_all_read_back();
    EXPECT_EQ(random_direct_reads(t().mnt(), expected_, 1500, 12), "");
    Stats s2 = stats();
    EXPECT_GT(s2["cache_hits"], s1["cache_hits"]);
}

TEST_F(ReadCacheTest, ConcurrentReadersSeeTheBackingBytes) {
    std::mt19937_64 rng(99);
    for (int i = 0; i < 6; ++i) put_backing("c" + std::to_string(i), random_bytes(rng, 100000 + rng() % (2 << 20)));
    std::mutex mu;
    std::vector<std::string> failures;
    std::vector<std::thread> readers;
    for (int r = 0; r < 4; ++r) {
        readers.emplace_back([&, r] {
            std::string failure = random_direct_reads(t().mnt(), expected_, 400, 1000 + r);
            if (failure.empty()) return;
            std::lock_guard lock(mu);
            failures.push_back(failure);
        });
    }
    for (auto& reader : readers) reader.join();
    EXPECT_TRUE(failures.empty()) << failures.front();
    expect_all_read_back();
    EXPECT_GT(stats()["cache_hits"], 0u);
}

// Without kernel_cache (the default) every open drops the kernel's pages of
// the file, so each open's reads reach the daemon and its cache.
TEST_F(ReadCacheTest, EachNewOpenReachesTheDaemon) {
    std::mt19937_64 rng(3);
    put_backing("f", random_bytes(rng, 256 << 10));
    expect_all_read_back();
    std::uint64_t hits = stats()["cache_hits"];
    for (int i = 0; i < 3; ++i) {
        expect_all_read_back();
        std::uint64_t now = stats()["cache_hits"];
        EXPECT_GT(now, hits) << "open " << i << " did not reach the cache";
        hits = now;
    }
}

}  // namespace
}  // namespace bcl::test
