// Sequential bypass and congestion through the engine (sequential.h,
// io/admission.h): reads past sequential_cutoff are served, from the
// cache where it holds them, but not inserted; writes past it go to the
// backing file and drop the cached range in every mode; while the cache
// device is slower than a congestion threshold, nothing new is inserted. A
// read whose requests come out of order inserts at most the cutoff and one
// window.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "bcachefs_lite/device/faulty_device.h"
#include "bcachefs_lite/device/mem_device.h"
#include "cache_fixture.h"
#include "io/admission.h"

namespace bcl::test {
namespace {

constexpr std::uint64_t kK = 1024;
constexpr std::uint64_t kChunk = 16 * kK;
constexpr BypassTunables kCutoff64K{
    .sequential_cutoff = 64 * kK, .congested_read_threshold_us = 0, .congested_write_threshold_us = 0};

class SequentialBypassTest : public CacheTest {
protected:
    void open_with(BypassTunables t, CacheMode mode = CacheMode::writethrough) {
        format_cache(96);
        CacheSetOptions o = options();
        o.tunables.bypass = t;
        o.tunables.mode = mode;
        if (mode == CacheMode::writeback) {
            ASSERT_TRUE(open_backing_root());
            o.backing_root_fd = root_fd_;
        }
        open_set(std::move(o));
    }
    // Writes data at offset in kChunk pieces, one run.
    void write_chunked(EngineFile& f, std::uint64_t offset, const std::string& data) {
        for (std::uint64_t done = 0; done < data.size(); done += kChunk) {
            f.write(offset + done, data.substr(done, kChunk));
            set_->run_background_until_idle();
        }
    }

    std::uint64_t cached(EngineFile& f) {
        auto n = set_->cached_bytes(f.state->identity.dev, f.state->identity.ino);
        EXPECT_TRUE(n);
        return n ? n.value() : 0;
    }

    std::mt19937_64 rng_{42};
};

TEST_F(SequentialBypassTest, ReadsPastTheCutoffAreServedFromTheBackingFileAndNotInserted) {
    open_with(kCutoff64K);
    const std::string data = random_bytes(rng_, 512 * kK);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));

    EXPECT_EQ(f.read_chunked(0, data.size(), kChunk), data);
    // 16K, 32K, 48K of the run are under the cutoff; from 64K on it bypasses.
    EXPECT_EQ(cached(f), 48 * kK);
    CacheStats s = set_->stats();
    EXPECT_EQ(s.cache_misses, 3u);
    EXPECT_EQ(s.cache_bypass_misses, 29u);
    EXPECT_EQ(s.cache_bypass_hits, 0u);
    EXPECT_EQ(s.bypassed, 29 * kChunk);
    EXPECT_EQ(s.promotions, 3u) << "a bypassed miss is not offered to the cache";

    // Again from the start: a new run, whose first three reads hit.
    EXPECT_EQ(f.read_chunked(0, data.size(), kChunk), data);
    s = set_->stats();
    EXPECT_EQ(s.cache_hits, 3u);
    EXPECT_EQ(s.cache_bypass_misses, 58u);
    EXPECT_EQ(cached(f), 48 * kK);
}

TEST_F(SequentialBypassTest, ReadsOutOfOrderInsertAtMostTheCutoffAndOneWindow) {
    // 256K cutoff: the window of 16K requests is 64K, four of them.
    constexpr BypassTunables t{
        .sequential_cutoff = 256 * kK, .congested_read_threshold_us = 0, .congested_write_threshold_us = 0};
    open_with(t);
    const std::string data = random_bytes(rng_, 2048 * kK);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    // The requests in flight at once come in any order: shuffled in fours.
    std::vector<std::uint64_t> offsets;
    for (std::uint64_t off = 0; off < data.size(); off += kChunk) offsets.push_back(off);
    for (std::size_t i = 0; i < offsets.size(); i += 4)
        std::shuffle(offsets.begin() + i, offsets.begin() + i + 4, rng_);
    for (std::uint64_t off : offsets) {
        ASSERT_EQ(f.read(off, kChunk), data.substr(off, kChunk)) << off;
        set_->run_background_until_idle();
    }
    EXPECT_LE(cached(f), t.sequential_cutoff + sequential_window(t.sequential_cutoff));
    EXPECT_GE(set_->stats().bypassed, data.size() - t.sequential_cutoff - sequential_window(t.sequential_cutoff));
}

TEST_F(SequentialBypassTest, ABypassedReadStillServesWhatTheCacheHolds) {
    open_with(
        BypassTunables{.sequential_cutoff = 0, .congested_read_threshold_us = 0, .congested_write_threshold_us = 0});
    const std::string data = random_bytes(rng_, 256 * kK);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read_chunked(0, data.size(), kChunk), data);
    ASSERT_EQ(cached(f), data.size());
    EXPECT_EQ(set_->stats().bypassed, 0u) << "cutoff 0: never";

    ASSERT_TRUE(set_->admission().set_bypass_tunables(kCutoff64K));
    const std::uint64_t backing_before = set_->stats().bytes_read_backing;
    EXPECT_EQ(f.read_chunked(0, data.size(), kChunk), data);
    const CacheStats s = set_->stats();
    EXPECT_EQ(s.cache_hits, 3u);
    EXPECT_EQ(s.cache_bypass_hits, 13u);
    EXPECT_EQ(s.cache_bypass_misses, 0u);
    EXPECT_EQ(s.bypassed, 13 * kChunk);
    EXPECT_EQ(s.bytes_read_backing, backing_before);
}

TEST_F(SequentialBypassTest, RandomReadsAreStillCached) {
    open_with(kCutoff64K);
    const std::string data = random_bytes(rng_, 256 * kK);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    // Every block once, none right after the one before.
    for (std::uint64_t i = 0; i < 64; ++i) {
        const std::uint64_t block = (i * 37) % 64;
        EXPECT_EQ(f.read(block * 4096, 4096), data.substr(block * 4096, 4096));
        set_->run_background_until_idle();
    }
    EXPECT_EQ(cached(f), data.size());
    EXPECT_EQ(set_->stats().bypassed, 0u);
}

TEST_F(SequentialBypassTest, ASequentialWriteDropsTheCachedRangeInWritethrough) {
    open_with(
        BypassTunables{.sequential_cutoff = 0, .congested_read_threshold_us = 0, .congested_write_threshold_us = 0});
    const std::string data = random_bytes(rng_, 256 * kK);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    f.read_chunked(0, data.size(), kChunk);
    ASSERT_EQ(cached(f), data.size());

    ASSERT_TRUE(set_->admission().set_bypass_tunables(kCutoff64K));
    const std::string fresh = random_bytes(rng_, 128 * kK);
    write_chunked(f, 0, fresh);
    // The first 48K were written through (and cached); the rest went to the
    // backing file alone and left the cache.
    EXPECT_EQ(cached(f), data.size() - (128 - 48) * kK);
    EXPECT_EQ(set_->stats().bypassed, 5 * kChunk);
    const std::string expect = fresh + data.substr(fresh.size());
    EXPECT_EQ(backing_read(path("a"), 0, expect.size()), expect);
    ASSERT_TRUE(set_->admission().set_bypass_tunables(BypassTunables{.sequential_cutoff = 0}));
    EXPECT_EQ(f.read(0, expect.size()), expect);
}

TEST_F(SequentialBypassTest, ASequentialWriteInWritebackGoesToTheBackingFile) {
    if (::geteuid() != 0) GTEST_SKIP() << "writeback needs root (open_by_handle_at)";
    open_with(kCutoff64K, CacheMode::writeback);
    write_whole(path("a"), "");
    EngineFile f(*set_, path("a"));
    const std::string data = random_bytes(rng_, 256 * kK);
    write_chunked(f, 0, data);
    const CacheStats s = set_->stats();
    EXPECT_EQ(s.dirty_data, 48 * kK) << "only the start of the run is cached dirty";
    EXPECT_EQ(s.bypassed, 13 * kChunk);
    EXPECT_EQ(s.writes_direct, 0u) << "bypass is counted apart";
    EXPECT_EQ(backing_read(path("a"), 48 * kK, data.size() - 48 * kK), data.substr(48 * kK));
    EXPECT_EQ(f.read(0, data.size()), data);
}

TEST_F(SequentialBypassTest, ABypassedWriteWritesBackTheDirtyBytesOfBlocksItCoversInPart) {
    if (::geteuid() != 0) GTEST_SKIP() << "writeback needs root (open_by_handle_at)";
    open_with(
        BypassTunables{.sequential_cutoff = 0, .congested_read_threshold_us = 0, .congested_write_threshold_us = 0},
        CacheMode::writeback);
    write_whole(path("a"), "");
    EngineFile f(*set_, path("a"));
    std::string expect = random_bytes(rng_, 3 * 4096);
    f.write(0, expect);
    ASSERT_EQ(set_->stats().dirty_data, expect.size());

    // One write of 5000 bytes is a run over a 4K cutoff: it goes direct,
    // over parts of blocks 0 and 1 whose other bytes are only in the cache.
    ASSERT_TRUE(set_->admission().set_bypass_tunables(BypassTunables{.sequential_cutoff = 4096}));
    const std::string mid = random_bytes(rng_, 5000);
    f.write(1000, mid);
    expect.replace(1000, mid.size(), mid);
    EXPECT_EQ(set_->stats().bypassed, mid.size());
    EXPECT_EQ(backing_read(path("a"), 0, 2 * 4096), expect.substr(0, 2 * 4096));
    EXPECT_EQ(f.read(0, expect.size()), expect);
}

TEST_F(SequentialBypassTest, InsertsStopWhileCacheDeviceWritesAreSlow) {
    auto mem = std::make_unique<MemDevice>((first_bucket_for(kTestBucketSize) + 96) * kTestBucketSize, 4096);
    FormatOptions fo;
    fo.bucket_size = kTestBucketSize;
    fo.block_size = kTestBlockSize;
    ASSERT_TRUE(format_block_device(*mem, fo));
    auto faulty = std::make_unique<FaultyDevice>(std::move(mem));
    FaultyDevice* device = faulty.get();
    CacheSetOptions o = options();
    o.cache_paths.clear();
    o.devices.push_back(std::move(faulty));
    // 20 ms per write: one insert puts the average (2500 us) over 1000 us.
    o.tunables.bypass =
        BypassTunables{.sequential_cutoff = 0, .congested_read_threshold_us = 0, .congested_write_threshold_us = 1000};
    open_set(std::move(o));
    const std::string data = random_bytes(rng_, 40 * kK);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    device->add_fault(FaultRule{.kind = IoKind::write, .delay = std::chrono::milliseconds(20)});

    for (std::uint64_t i = 0; i < 10; ++i) {
        EXPECT_EQ(f.read(i * 4096, 4096), data.substr(i * 4096, 4096));
        set_->run_background_until_idle();
    }
    // Congestion lapses after a second without a write: a slow machine may
    // try a second insert, which is slow again.
    const CacheStats s = set_->stats();
    EXPECT_GE(s.congested_skips, 7u);
    EXPECT_EQ(cached(f) + s.congested_skips * 4096, data.size());

    // A writethrough write is not cached either.
    const std::string block = random_bytes(rng_, 4096);
    f.write(4 * 4096, block);
    EXPECT_EQ(set_->stats().congested_skips, s.congested_skips + 1);

    // Threshold 0: inserts again, however slow.
    ASSERT_TRUE(set_->admission().set_bypass_tunables(
        BypassTunables{.sequential_cutoff = 0, .congested_read_threshold_us = 0, .congested_write_threshold_us = 0}));
    const std::uint64_t before = cached(f);
    f.read(9 * 4096, 4096);
    EXPECT_EQ(cached(f), before + 4096);
}

}  // namespace
}  // namespace bcl::test
