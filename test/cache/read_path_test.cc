// The read path: misses fill the cache, hits are served from it, every byte
// equals the backing file's.
#include <sys/stat.h>

#include <algorithm>

#include "bcachefs_lite/device/faulty_device.h"
#include "bcachefs_lite/device/mem_device.h"
#include "cache_fixture.h"

namespace bcl::test {
namespace {

TEST_F(CacheTest, ColdReadMissesThenTheSameReadHits) {
    format_cache(96);
    open_set();
    const std::string data = random_bytes(rng_, 100000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));

    EXPECT_EQ(f.read(0, 100000), data);
    CacheStats s = set_->stats();
    EXPECT_EQ(s.cache_misses, 1u);
    EXPECT_EQ(s.cache_hits, 0u);
    EXPECT_EQ(s.bytes_read_backing, 100000u);
    EXPECT_EQ(s.bytes_read_cache, 0u);

    EXPECT_EQ(f.read(0, 100000), data);
    s = set_->stats();
    EXPECT_EQ(s.cache_hits, 1u);
    EXPECT_EQ(s.cache_misses, 1u);
    EXPECT_EQ(s.bytes_read_cache, 100000u);
    EXPECT_EQ(s.cache_hit_ratio(), 50u);
    // A part of it, unaligned, is a hit too.
    EXPECT_EQ(f.read(777, 5000), data.substr(777, 5000));
    EXPECT_EQ(set_->stats().cache_hits, 2u);

    auto cached = set_->cached_bytes(f.state->identity.dev, f.state->identity.ino);
    ASSERT_TRUE(cached);
    EXPECT_EQ(cached.value(), 100000u);
}

TEST_F(CacheTest, ABurstOfMissesIsInsertedWithoutWaitingForARefill) {
    // 1024 buckets of 64 KiB: the freelists hold 32 (1/32 of the cache, as
    // much of kFreeBurstBytes as it allows), bcache's sizing alone 4.
    format_cache(1024);
    open_set();
    ASSERT_EQ(set_->alloc().device(0).sizes().free, 32u);
    const std::size_t bytes = 24 * kTestBucketSize;
    const std::string data = random_bytes(rng_, bytes);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    // Read in FUSE's requests of up to 1 MiB, with no background step in
    // between: the allocator does not refill meanwhile.
    for (std::size_t at = 0; at < bytes; at += 1 << 20) {
        const std::size_t n = std::min<std::size_t>(1 << 20, bytes - at);
        ASSERT_EQ(f.read(at, n), data.substr(at, n));
    }
    EXPECT_EQ(set_->stats().insert_no_space, 0u);
    auto cached = set_->cached_bytes(f.state->identity.dev, f.state->identity.ino);
    ASSERT_TRUE(cached);
    EXPECT_EQ(cached.value(), bytes);
}

TEST_F(CacheTest, ReadsEqualTheBackingFileForRandomFilesOffsetsAndSizes) {
    format_cache(256);
    open_set();
    const std::vector<std::size_t> sizes = {0, 1, 511, 4095, 4096, 4097, 8192, 65536 + 123, 300000};
    std::vector<std::string> names;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        names.push_back("f" + std::to_string(i));
        write_whole(path(names.back()), random_bytes(rng_, sizes[i]));
    }
    for (int round = 0; round < 3; ++round) {
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            EngineFile f(*set_, path(names[i]));
            for (int k = 0; k < 40; ++k) {
                const std::uint64_t off = sizes[i] == 0 ? rng_() % 100 : rng_() % (sizes[i] + 100);
                const std::size_t len = 1 + rng_() % 70000;
                ASSERT_EQ(f.read(off, len), backing_read(path(names[i]), off, len))
                    << names[i] << " size " << sizes[i] << " offset " << off << " length " << len;
                set_->run_background_until_idle();
            }
            ASSERT_EQ(f.read(0, sizes[i] + 10), backing_read(path(names[i]), 0, sizes[i] + 10));
            set_->run_background_until_idle();
        }
    }
    const CacheStats s = set_->stats();
    EXPECT_GT(s.cache_hits, 0u);
    EXPECT_GT(s.bytes_read_cache, 0u);
    auto report = set_->check_consistency();
    ASSERT_TRUE(report);
    EXPECT_EQ(report.value().problems, std::vector<std::string>{});
}

TEST_F(CacheTest, TheBlockHoldingEndOfFileIsCachedPaddedWithZeroes) {
    format_cache(96);
    open_set();
    // A miss of a whole block of random bytes first, so that the buffer a
    // later miss reads into may hold them.
    write_whole(path("full"), random_bytes(rng_, 8192));
    write_whole(path("short"), random_bytes(rng_, 5000));
    std::uint64_t file_id = 0;
    {
        EngineFile full(*set_, path("full"));
        ASSERT_EQ(full.read(0, 8192).size(), 8192u);
        EngineFile short_file(*set_, path("short"));
        ASSERT_EQ(short_file.read(0, 8192).size(), 5000u);
        file_id = short_file.state->record.file_id;
    }
    ASSERT_TRUE(set_->close());
    set_.reset();

    IndexOptions io;
    io.read_only = true;
    auto index = Index::open(index_dir_, io);
    ASSERT_TRUE(index) << index.error().message;
    auto found = index.value()->lookup(file_id, 4096, 8192);
    ASSERT_TRUE(found);
    ASSERT_EQ(found.value().size(), 1u);
    const Extent& e = found.value().front();
    ASSERT_LE(e.start(), 4096u);
    ASSERT_EQ(e.end(), 8192u);
    // The extent's bytes from the end of file to the end of its block.
    const std::uint64_t at = e.value.ptr(0).sector * kSectorSize + (5000 - e.start());
    std::string padding(8192 - 5000, 'x');
    const int fd = ::open(cache_path_.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(::pread(fd, padding.data(), padding.size(), static_cast<off_t>(at)),
              static_cast<ssize_t>(padding.size()));
    ::close(fd);
    EXPECT_EQ(std::count(padding.begin(), padding.end(), '\0'), static_cast<std::ptrdiff_t>(padding.size()))
        << "bytes past end of file that are not zero";
}

TEST_F(CacheTest, EmptyAndTinyFilesReadCorrectlyAndTheTailIsNeverOverServed) {
    format_cache(96);
    open_set();
    write_whole(path("empty"), "");
    write_whole(path("tiny"), "hello");
    EngineFile e(*set_, path("empty"));
    EXPECT_EQ(e.read(0, 4096), "");
    EXPECT_EQ(e.read(100, 10), "");
    EngineFile t(*set_, path("tiny"));
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(t.read(0, 4096), "hello");
        EXPECT_EQ(t.read(3, 100), "lo");
        EXPECT_EQ(t.read(5, 100), "");
    }
    // Empty reads count as neither hits nor misses; the tiny file's block
    // was cached on the first read and served after.
    const CacheStats s = set_->stats();
    EXPECT_EQ(s.cache_misses, 1u);
    EXPECT_EQ(s.cache_hits, 5u);
    EXPECT_EQ(s.bytes_read_cache, 5u * 2 + 2u * 2 + 2u);
}

// A faulty cache device over memory, formatted with the test geometry.
std::unique_ptr<FaultyDevice> faulty_cache(std::uint64_t buckets) {
    auto mem = std::make_unique<MemDevice>((first_bucket_for(kTestBucketSize) + buckets) * kTestBucketSize, 4096);
    FormatOptions fo;
    fo.bucket_size = kTestBucketSize;
    fo.block_size = kTestBlockSize;
    EXPECT_TRUE(format_block_device(*mem, fo));
    return std::make_unique<FaultyDevice>(std::move(mem));
}

// A cache set over a 96-bucket in-memory device behind fault injection.
class FaultyCacheTest : public CacheTest {
protected:
    FaultyDevice* open_faulty_set() {
        auto faulty = faulty_cache(96);
        FaultyDevice* faults = faulty.get();
        CacheSetOptions o = options();
        o.cache_paths.clear();
        o.devices.push_back(std::move(faulty));
        open_set(std::move(o));
        return faults;
    }
    // Reads all of f, whose contents are `data`, in misses of `piece`
    // bytes: an extent each, back to back on the device.
    void cache_in_pieces(EngineFile& f, const std::string& data, std::size_t piece) {
        for (std::size_t off = 0; off < data.size(); off += piece)
            ASSERT_EQ(f.read(off, piece), data.substr(off, piece));
    }
};

// A clean cache whose index cannot be read still serves every read, from
// the backing file, and caches nothing meanwhile.
TEST_F(CacheTest, AFailedIndexLookupOfACleanCacheReadsTheBackingFile) {
    format_cache(96);
    bool fail = false;
    CacheSetOptions o = options();
    o.hooks.fail_read_lookup = [&](const CachedFile&, std::uint64_t, std::uint64_t) { return fail; };
    open_set(std::move(o));
    const std::string data = random_bytes(rng_, 100000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, 49152), data.substr(0, 49152));

    fail = true;
    const CacheStats before = set_->stats();
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(set_->stats().bytes_read_backing - before.bytes_read_backing, data.size());
    fail = false;
    auto cached = set_->cached_bytes(f.state->identity.dev, f.state->identity.ino);
    ASSERT_TRUE(cached);
    EXPECT_EQ(cached.value(), 49152u) << "nothing inserted while the index failed";
}

TEST_F(FaultyCacheTest, ExtentsBackToBackOnTheDeviceAreReadWithOneIo) {
    FaultyDevice* faults = open_faulty_set();

    // Six misses in a row: six extents, one after the other in one bucket.
    constexpr std::size_t kPiece = 2 * kTestBlockSize;
    const std::string data = random_bytes(rng_, 6 * kPiece);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    cache_in_pieces(f, data, kPiece);
    ASSERT_EQ(set_->stats().cache_misses, 6u);

    // Any second read of the device fails: the whole file still comes
    // from the cache, so it took one.
    faults->add_fault(FaultRule{.kind = IoKind::read, .skip = 1, .count = 0});
    EXPECT_EQ(f.read(0, data.size()), data);
    CacheStats s = set_->stats();
    EXPECT_EQ(s.cache_read_errors, 0u);
    EXPECT_EQ(s.cache_hits, 1u);
    EXPECT_EQ(s.bytes_read_cache, data.size());
    // Unaligned inside the run: one I/O too (the rule has let its one
    // request through already, so clear it).
    faults->clear_faults();
    faults->add_fault(FaultRule{.kind = IoKind::read, .skip = 1, .count = 0});
    EXPECT_EQ(f.read(kPiece / 2 + 3, 4 * kPiece), data.substr(kPiece / 2 + 3, 4 * kPiece));
    EXPECT_EQ(set_->stats().cache_read_errors, 0u);
}

TEST_F(FaultyCacheTest, AFailedReadOfARunFallsBackExtentByExtent) {
    FaultyDevice* faults = open_faulty_set();

    constexpr std::size_t kPiece = kTestBlockSize;
    const std::string data = random_bytes(rng_, 6 * kPiece);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    cache_in_pieces(f, data, kPiece);

    // The run's one read fails; the extents, read one by one, do not.
    faults->add_fault(FaultRule{.kind = IoKind::read, .count = 1});
    const CacheStats before = set_->stats();
    EXPECT_EQ(f.read(0, data.size()), data);
    const CacheStats after = set_->stats();
    EXPECT_EQ(after.cache_read_errors, before.cache_read_errors + 1);
    EXPECT_EQ(after.bytes_read_cache - before.bytes_read_cache, data.size());
    EXPECT_EQ(after.bytes_read_backing, before.bytes_read_backing);
}

TEST_F(FaultyCacheTest, AFailingCacheDeviceNeverFailsARead) {
    FaultyDevice* faults = open_faulty_set();
    // Errors below the limit: the cache stays in service (io_error_test.cc
    // has what happens past it).
    set_io_errors(*set_, IoErrorTunables{1000, 0});

    const std::string data = random_bytes(rng_, 50000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    faults->add_fault(FaultRule{IoKind::read});
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_GT(set_->stats().cache_read_errors, 0u);
    EXPECT_EQ(set_->stats().cache_hits, 0u);
    // Writes failing too: still correct, nothing cached.
    faults->add_fault(FaultRule{IoKind::write});
    write_whole(path("b"), data);
    EngineFile g(*set_, path("b"));
    EXPECT_EQ(g.read(0, data.size()), data);
    EXPECT_GT(set_->stats().cache_write_errors, 0u);
    faults->clear_faults();
    EXPECT_EQ(g.read(0, data.size()), data);
    EXPECT_EQ(g.read(0, data.size()), data);
    EXPECT_EQ(set_->stats().cache_hits, 1u);
}

}  // namespace
}  // namespace bcl::test
