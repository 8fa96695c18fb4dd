// A failing cache device: read errors are served from the backing file,
// failed inserts cache nothing, unreadable dirty data is EIO, errors are
// counted with decay, and past io_error_limit the cache goes out of service
// (failing, then passthrough) after writing back what it can still read.
#include <fcntl.h>
#include <sys/stat.h>

#include "bcachefs_lite/device/faulty_device.h"
#include "bcachefs_lite/device/mem_device.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "cache_fixture.h"

namespace bcl::test {
namespace {

class IoErrorTest : public CacheTest {
protected:
    // A set over a 96-bucket in-memory device behind fault injection, with
    // these error tunables; in writeback mode when asked (needs root).
    FaultyDevice* open_failing_set(IoErrorTunables tunables, bool writeback = false) {
        auto mem = std::make_unique<MemDevice>((first_bucket_for(kTestBucketSize) + 96) * kTestBucketSize, 4096);
        FormatOptions fo;
        fo.bucket_size = kTestBucketSize;
        fo.block_size = kTestBlockSize;
        EXPECT_TRUE(format_block_device(*mem, fo));
        auto faulty = std::make_unique<FaultyDevice>(std::move(mem));
        FaultyDevice* faults = faulty.get();
        CacheSetOptions o = options();
        o.cache_paths.clear();
        o.devices.push_back(std::move(faulty));
        o.tunables.io_errors = tunables;
        if (writeback) {
            EXPECT_TRUE(open_backing_root());
            o.tunables.mode = CacheMode::writeback;
            o.backing_root_fd = root_fd_;
        }
        open_set(std::move(o));
        return faults;
    }
    std::uint64_t file_id(const EngineFile& f) {
        std::lock_guard lk(f.state->mutex);
        return f.state->record.file_id;
    }
    // The device byte range the cache holds file f's [0, size) in.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> device_ranges(const EngineFile& f, std::uint64_t size) {
        std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
        auto extents = set_->index().lookup(file_id(f), 0, size);
        EXPECT_TRUE(extents);
        if (extents)
            for (const Extent& e : extents.value()) out.emplace_back(e.value.sector * kSectorSize, e.value.length);
        return out;
    }
    Result<std::size_t> raw_read(EngineFile& f, std::uint64_t offset, std::string& buf) {
        return set_->read(*f.state, f.backing.fd(), offset, std::as_writable_bytes(std::span(buf.data(), buf.size())));
    }
    // Runs background work until the set is in `state`, at most 10 s.
    bool background_until(CacheState state) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (set_->state() != state) {
            set_->run_background_until_idle();
            if (std::chrono::steady_clock::now() > deadline) return false;
        }
        return true;
    }
    std::uint64_t device_reads() { return set_->device().device().stats().calls_of(IoKind::read); }
};

constexpr IoErrorTunables kPatient{1000, 0};

TEST_F(IoErrorTest, ReadErrorsBelowTheLimitAreServedFromTheBackingFile) {
    FaultyDevice* faults = open_failing_set(kPatient);
    const std::string data = random_bytes(rng_, 100000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    ASSERT_EQ(f.read(0, data.size()), data);
    ASSERT_EQ(f.read(0, data.size()), data);
    ASSERT_EQ(set_->stats().cache_hits, 1u);

    faults->add_fault(FaultRule{.kind = IoKind::read});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(f.read(4097, 30000), data.substr(4097, 30000));
    const CacheStats s = set_->stats();
    EXPECT_EQ(s.io_errors, faults->injected(IoKind::read));
    EXPECT_GE(s.io_errors, 4u);
    EXPECT_EQ(set_->device().io_errors().errors(), s.io_errors);
    EXPECT_EQ(set_->state(), CacheState::running);
    // Still in service: once the device reads again, hits come back.
    faults->clear_faults();
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(set_->stats().cache_hits, 2u);
}

TEST_F(IoErrorTest, AFailedInsertCachesNothingAndLeavesTheBackingFileAlone) {
    FaultyDevice* faults = open_failing_set(kPatient);
    const std::string data = random_bytes(rng_, 70000);
    write_whole(path("a"), data);
    BackingFile probe(path("a"));
    const struct statx before = probe.stx();
    EngineFile f(*set_, path("a"));
    faults->add_fault(FaultRule{.kind = IoKind::write});
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_GT(set_->stats().cache_write_errors, 0u);
    EXPECT_EQ(set_->stats().io_errors, faults->injected(IoKind::write));
    auto cached = set_->cached_bytes(f.state->identity.dev, f.state->identity.ino);
    ASSERT_TRUE(cached);
    EXPECT_EQ(cached.value(), 0u);
    EXPECT_TRUE(set_->index().lookup(file_id(f), 0, UINT64_MAX).value().empty());
    EXPECT_EQ(backing_read(path("a"), 0, data.size() + 1), data);
    const struct statx after = probe.stx();
    EXPECT_TRUE(same_time(before.stx_mtime, after.stx_mtime));
    EXPECT_EQ(after.stx_size, before.stx_size);
    // The next read misses again and, the device writing again, caches.
    faults->clear_faults();
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(set_->stats().cache_hits, 1u);
}

TEST_F(IoErrorTest, EveryKindOfRequestCountsItsErrors) {
    FaultyDevice* faults = open_failing_set(kPatient);
    CacheDevice& dev = set_->device();
    const std::uint64_t b = dev.first_bucket();
    faults->add_fault(FaultRule{.kind = IoKind::flush, .count = 1});
    faults->add_fault(FaultRule{.kind = IoKind::discard, .count = 1});
    faults->add_fault(FaultRule{.kind = IoKind::read, .count = 1});
    faults->add_fault(FaultRule{.kind = IoKind::write, .count = 1});
    AlignedBuffer buf(kTestBlockSize);
    EXPECT_FALSE(dev.flush());
    EXPECT_FALSE(dev.discard_bucket(b));
    EXPECT_FALSE(dev.read_bucket(b, 0, buf.span()));
    EXPECT_FALSE(dev.write_bucket(b, 0, buf.span()));
    EXPECT_EQ(set_->stats().io_errors, 4u);
    // Requests that never reach the device are no device errors.
    EXPECT_FALSE(dev.read_bucket(dev.nbuckets(), 0, buf.span()));
    EXPECT_TRUE(dev.read_bucket(b, 0, buf.span()));
    EXPECT_TRUE(dev.flush());
    EXPECT_EQ(set_->stats().io_errors, 4u);
}

TEST_F(IoErrorTest, TheErrorCountDecaysWithTheHalflifeInIos) {
    // 88 I/Os per halflife: every I/O scales the count by 127/128.
    open_failing_set(IoErrorTunables{3, 88});
    EXPECT_EQ(set_->tunables().io_errors, (IoErrorTunables{3, 88}));
    FaultyDevice& faults = static_cast<FaultyDevice&>(set_->device().device());
    CacheDevice& dev = set_->device();
    AlignedBuffer buf(kTestBlockSize);
    faults.add_fault(FaultRule{.kind = IoKind::read, .count = 2});
    EXPECT_FALSE(dev.read_bucket(dev.first_bucket(), 0, buf.span()));
    EXPECT_FALSE(dev.read_bucket(dev.first_bucket(), 0, buf.span()));
    EXPECT_EQ(set_->stats().io_errors, 1u) << "2 errors, the second decayed once: 1.98";
    // A little more than a halflife later, under one is left.
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(dev.read_bucket(dev.first_bucket(), 0, buf.span()));
    EXPECT_EQ(set_->stats().io_errors, 0u) << "1.98 * (127/128)^100 = 0.91";
    for (int i = 0; i < 88; ++i) ASSERT_TRUE(dev.read_bucket(dev.first_bucket(), 0, buf.span()));
    // Two more errors stay under the limit of 3 only thanks to the decay.
    faults.clear_faults();
    faults.add_fault(FaultRule{.kind = IoKind::read, .count = 2});
    EXPECT_FALSE(dev.read_bucket(dev.first_bucket(), 0, buf.span()));
    EXPECT_FALSE(dev.read_bucket(dev.first_bucket(), 0, buf.span()));
    EXPECT_EQ(set_->state(), CacheState::running);
    EXPECT_EQ(set_->stats().io_errors, 2u);
}

TEST_F(IoErrorTest, WithoutHalflifeErrorsAddUpToTheLimit) {
    FaultyDevice* faults = open_failing_set(IoErrorTunables{3, 0});
    CacheDevice& dev = set_->device();
    AlignedBuffer buf(kTestBlockSize);
    // The halflife is kept as a multiple of 88, as bcache keeps it.
    set_io_errors(*set_, IoErrorTunables{3, 87});
    EXPECT_EQ(set_->tunables().io_errors, (IoErrorTunables{3, 0}));
    faults->add_fault(FaultRule{.kind = IoKind::read, .count = 2});
    EXPECT_FALSE(dev.read_bucket(dev.first_bucket(), 0, buf.span()));
    EXPECT_FALSE(dev.read_bucket(dev.first_bucket(), 0, buf.span()));
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(dev.read_bucket(dev.first_bucket(), 0, buf.span()));
    EXPECT_EQ(set_->stats().io_errors, 2u);
    EXPECT_EQ(set_->state(), CacheState::running);
    faults->add_fault(FaultRule{.kind = IoKind::write, .count = 1});
    EXPECT_FALSE(dev.write_bucket(dev.first_bucket(), 0, buf.span()));
    EXPECT_EQ(set_->state(), CacheState::failing);
    // Nothing dirty to write back: passthrough at the first background run.
    ASSERT_TRUE(background_until(CacheState::passthrough));
}

TEST_F(IoErrorTest, PastTheLimitReadsAndWritesGoToTheBackingFiles) {
    FaultyDevice* faults = open_failing_set(IoErrorTunables{2, 0});
    const std::string data = random_bytes(rng_, 100000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    ASSERT_EQ(f.read(0, data.size()), data);
    ASSERT_EQ(f.read(0, data.size()), data);
    ASSERT_EQ(set_->stats().cache_hits, 1u);
    // Two failed reads: out of service.
    faults->add_fault(FaultRule{.kind = IoKind::read, .count = 2});
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_NE(set_->state(), CacheState::running);
    ASSERT_TRUE(background_until(CacheState::passthrough));

    // The device reads fine again, yet the clean data is not read from it.
    const std::uint64_t reads = device_reads();
    const CacheStats before = set_->stats();
    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_EQ(f.read(5000, 7), data.substr(5000, 7));
    EXPECT_EQ(device_reads(), reads);
    EXPECT_EQ(set_->stats().bytes_read_cache, before.bytes_read_cache);
    // Writes go to the backing file and drop what the cache held.
    const std::string patch = random_bytes(rng_, 3 * kTestBlockSize);
    f.write(kTestBlockSize, patch);
    std::string now = data;
    now.replace(kTestBlockSize, patch.size(), patch);
    EXPECT_EQ(backing_read(path("a"), 0, now.size()), now);
    EXPECT_EQ(f.read(0, now.size()), now);
    // New files are not cached.
    write_whole(path("b"), data);
    EngineFile g(*set_, path("b"));
    EXPECT_EQ(g.read(0, data.size()), data);
    EXPECT_EQ(g.read(0, data.size()), data);
    EXPECT_TRUE(set_->index().lookup(file_id(g), 0, UINT64_MAX).value().empty());
    EXPECT_EQ(device_reads(), reads);
    // The device was not flushed: the index is left as after a crash, so
    // the next open drops the clean data.
    ASSERT_TRUE(set_->close());
    auto clean = set_->index().clean_shutdown();
    ASSERT_TRUE(clean);
    EXPECT_FALSE(clean.value());
}

class IoErrorWritebackTest : public IoErrorTest {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "writeback needs root (open_by_handle_at)";
        IoErrorTest::SetUp();
    }
};

TEST_F(IoErrorWritebackTest, DirtyDataThatCannotBeReadIsAnErrorNeverTheOlderBackingData) {
    FaultyDevice* faults = open_failing_set(kPatient, /*writeback=*/true);
    const std::string old = random_bytes(rng_, 8 * kTestBlockSize);
    write_whole(path("a"), old);
    EngineFile f(*set_, path("a"));
    const std::string fresh = random_bytes(rng_, 4 * kTestBlockSize);
    f.write(0, fresh);
    ASSERT_EQ(set_->stats().dirty_data, fresh.size());
    ASSERT_EQ(backing_read(path("a"), 0, fresh.size()), old.substr(0, fresh.size()));

    faults->add_fault(FaultRule{.kind = IoKind::read});
    std::string buf(old.size(), '\0');
    auto n = raw_read(f, 0, buf);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().code, Errc::io);
    buf.assign(100, '\0');
    n = raw_read(f, 10, buf);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().code, Errc::io);
    // Past the dirty blocks the file reads as ever.
    EXPECT_EQ(f.read(fresh.size(), old.size() - fresh.size()), old.substr(fresh.size()));
    EXPECT_EQ(set_->state(), CacheState::running);
    faults->clear_faults();
    EXPECT_EQ(f.read(0, fresh.size()), fresh);
}

TEST_F(IoErrorWritebackTest, PastTheLimitReadableDirtyDataIsWrittenBackAndTheRestStaysEio) {
    FaultyDevice* faults = open_failing_set(IoErrorTunables{2, 0}, /*writeback=*/true);
    const std::string old = random_bytes(rng_, 8 * kTestBlockSize);
    write_whole(path("clean"), old);
    write_whole(path("good"), old);
    write_whole(path("bad"), old);
    EngineFile clean(*set_, path("clean"));
    EngineFile good(*set_, path("good"));
    EngineFile bad(*set_, path("bad"));
    ASSERT_EQ(clean.read(0, old.size()), old);
    const std::string good_data = random_bytes(rng_, 6 * kTestBlockSize);
    const std::string bad_data = random_bytes(rng_, 2 * kTestBlockSize);
    good.write(0, good_data);
    bad.write(2 * kTestBlockSize, bad_data);
    ASSERT_EQ(set_->stats().dirty_data, good_data.size() + bad_data.size());

    // The device cannot read bad's dirty blocks any more.
    for (const auto& [at, len] : device_ranges(bad, old.size()))
        faults->add_fault(FaultRule{.kind = IoKind::read, .offset = at, .length = len});
    std::string buf(old.size(), '\0');
    auto n = raw_read(bad, 0, buf);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().code, Errc::io);
    EXPECT_EQ(set_->state(), CacheState::running) << "one error, limit 2";
    n = raw_read(bad, 2 * kTestBlockSize, buf);
    ASSERT_FALSE(n);
    EXPECT_EQ(set_->state(), CacheState::failing);

    // While failing, the dirty data still readable is read from the cache.
    EXPECT_EQ(good.read(0, good_data.size()), good_data);
    ASSERT_TRUE(background_until(CacheState::passthrough));
    EXPECT_EQ(backing_read(path("good"), 0, old.size()), good_data + old.substr(good_data.size()));
    EXPECT_EQ(set_->stats().dirty_data, bad_data.size());
    EXPECT_EQ(set_->writeback_status().flushing, false);
    // bad: still EIO, never the older backing bytes.
    buf.assign(old.size(), '\0');
    n = raw_read(bad, 0, buf);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().code, Errc::io);
    EXPECT_EQ(bad.read(0, 2 * kTestBlockSize), old.substr(0, 2 * kTestBlockSize));
    EXPECT_EQ(backing_read(path("bad"), 0, old.size()), old);

    // New reads and writes work through the backing files, in writeback
    // mode too, and nothing new becomes dirty.
    const std::uint64_t reads = device_reads();
    EXPECT_EQ(clean.read(0, old.size()), old);
    EXPECT_EQ(good.read(0, old.size()), good_data + old.substr(good_data.size()));
    EXPECT_EQ(device_reads(), reads);
    const std::string patch = random_bytes(rng_, 2 * kTestBlockSize);
    clean.write(0, patch);
    EXPECT_EQ(backing_read(path("clean"), 0, patch.size()), patch);
    EXPECT_EQ(clean.read(0, old.size()), patch + old.substr(patch.size()));
    EXPECT_EQ(set_->stats().dirty_data, bad_data.size());
    // A write over all of bad's dirty blocks replaces them.
    bad.write(2 * kTestBlockSize, patch);
    EXPECT_EQ(set_->stats().dirty_data, 0u);
    EXPECT_EQ(bad.read(0, old.size()), old.substr(0, 2 * kTestBlockSize) + patch + old.substr(4 * kTestBlockSize));
    // A flush has nothing it could do and says so at once.
    set_->start_flush();
    set_->run_background_until_idle();
    EXPECT_FALSE(set_->writeback_status().flushing);
}

}  // namespace
}  // namespace bcl::test
