// A cache set of two devices: opening it (membership checks), dirty data
// written to both with replicas=2, clean data spread over both, reads of
// either copy, GC and moving GC over both pointers, and a device that
// fails in the middle of dirty writes, or is missing at mount (degraded).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include <set>

#include "bcachefs_lite/device/faulty_device.h"
#include "bcachefs_lite/device/file_device.h"
#include "bcachefs_lite/device/mem_device.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "cache_fixture.h"

namespace bcl::test {
namespace {

constexpr std::uint64_t kSetBuckets = 96;

std::unique_ptr<MemDevice> mem_device(const std::string& name, std::uint64_t buckets = kSetBuckets) {
    return std::make_unique<MemDevice>((first_bucket_for(kTestBucketSize) + buckets) * kTestBucketSize, 4096, name);
}

FormatOptions set_format() {
    FormatOptions fo;
    fo.bucket_size = kTestBucketSize;
    fo.block_size = kTestBlockSize;
    return fo;
}

class ReplicasTest : public CacheTest {
protected:
    void SetUp() override {
        CacheTest::SetUp();
        ASSERT_TRUE(open_backing_root());
    }
    // Two MemDevices formatted as one set, behind fault injection.
    void make_set() { make_set_of(kSetBuckets); }
    void make_set_of(std::uint64_t buckets) {
        auto a = mem_device("mem0", buckets);
        auto b = mem_device("mem1", buckets);
        auto sbs = format_block_device_set({a.get(), b.get()}, set_format());
        ASSERT_TRUE(sbs) << sbs.error().message;
        auto fa = std::make_unique<FaultyDevice>(std::move(a));
        auto fb = std::make_unique<FaultyDevice>(std::move(b));
        faults_[0] = fa.get();
        faults_[1] = fb.get();
        devices_.clear();
        devices_.push_back(std::move(fa));
        devices_.push_back(std::move(fb));
    }
    CacheSetOptions set_options(unsigned replicas, bool writeback = true) {
        CacheSetOptions o = options();
        o.cache_paths.clear();
        for (auto& d : devices_) o.devices.push_back(std::move(d));
        devices_.clear();
        o.replicas = replicas;
        replicas_ = replicas;
        o.backing_root_fd = root_fd_;
        if (writeback) o.tunables.mode = CacheMode::writeback;
        // Written back only when a test asks.
        o.tunables.writeback.writeback_running = false;
        return o;
    }
    void open_replicated(unsigned replicas, bool writeback = true) {
        make_set();
        open_set(set_options(replicas, writeback));
    }
    // Closes the set and opens it again over the same devices.
    void reopen_replicated() {
        const unsigned replicas = replicas_;
        auto st = set_->close();
        ASSERT_TRUE(st) << st.error().message;
        // The set owns the devices: take the memory images back out.
        std::vector<std::unique_ptr<BlockDevice>> copies;
        for (unsigned d = 0; d < 2; ++d) {
            const BlockDevice& dev = set_->device(d).device();
            auto copy = std::make_unique<MemDevice>(dev.size(), 4096, dev.path());
            AlignedBuffer buf(dev.size(), 4096);
            ASSERT_TRUE(set_->device(d).device().read(0, buf.span()));
            ASSERT_TRUE(copy->write(0, buf.span()));
            auto faulty = std::make_unique<FaultyDevice>(std::move(copy));
            faults_[d] = faulty.get();
            copies.push_back(std::move(faulty));
        }
        set_.reset();
        devices_ = std::move(copies);
        open_set(set_options(replicas));
    }
    // Four files written a block-aligned piece at a time, each followed by
    // fsync, with device 0 failing (writes, reads, flushes) after half of
    // them; writeback stays off until then, so dirty data piles up on both
    // devices. Returns each file's contents as the writes that returned
    // left them.
    std::vector<std::string> run_failing_workload() {
        constexpr int kFiles = 4;
        constexpr int kPieces = 8;
        const std::size_t piece = 3 * kTestBlockSize;
        std::vector<std::string> model(kFiles);
        std::vector<std::unique_ptr<EngineFile>> files;
        for (int i = 0; i < kFiles; ++i) {
            write_whole(path(fmt::format("f{}", i)), "");
            files.push_back(std::make_unique<EngineFile>(*set_, path(fmt::format("f{}", i))));
        }
        for (int p = 0; p < kPieces; ++p) {
            if (p == kPieces / 2) {
                for (IoKind kind : {IoKind::write, IoKind::read, IoKind::flush})
                    faults_[0]->add_fault(FaultRule{.kind = kind});
            }
            for (int i = 0; i < kFiles; ++i) {
                EngineFile& f = *files[i];
                const std::string data = random_bytes(rng_, piece);
                const std::uint64_t off = p * piece;
                auto n = set_->write(*f.state, f.backing.fd(), off, std::as_bytes(std::span(data.data(), data.size())));
                if (!n || n.value() != data.size()) continue;
                // Nothing crashes here: every write that returned must read
                // back, fsync'ed or not (the fsync that meets the failing
                // flush may fail).
                (void)set_->fsync(*f.state, f.backing.fd(), false);
                model[i].resize(std::max<std::size_t>(model[i].size(), off + data.size()));
                model[i].replace(off, data.size(), data);
            }
        }
        return model;
    }
    // Runs background work (the evacuation) until the set is in
    // passthrough, at most 10 s.
    bool until_passthrough() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (set_->state() != CacheState::passthrough) {
            set_->run_background_until_idle();
            if (std::chrono::steady_clock::now() > deadline) return false;
        }
        return true;
    }
    // Closes the set and takes memory copies of its present devices back
    // out, by dev_idx (null for a stand-in of a missing one).
    std::vector<std::unique_ptr<MemDevice>> close_and_take_images() {
        std::vector<std::unique_ptr<MemDevice>> images;
        auto st = set_->close();
        EXPECT_TRUE(st) << st.error().message;
        for (unsigned d = 0; d < 2; ++d) {
            if (!set_->device(d).present()) {
                images.push_back(nullptr);
                continue;
            }
            const BlockDevice& dev = set_->device(d).device();
            auto copy = std::make_unique<MemDevice>(dev.size(), 4096, dev.path());
            AlignedBuffer buf(dev.size(), 4096);
            EXPECT_TRUE(set_->device(d).device().read(0, buf.span()));
            EXPECT_TRUE(copy->write(0, buf.span()));
            images.push_back(std::move(copy));
        }
        set_.reset();
        return images;
    }
    static std::unique_ptr<MemDevice> copy_of(MemDevice& image) {
        auto copy = std::make_unique<MemDevice>(image.size(), 4096, image.path());
        AlignedBuffer buf(image.size(), 4096);
        EXPECT_TRUE(image.read(0, buf.span()));
        EXPECT_TRUE(copy->write(0, buf.span()));
        return copy;
    }
    // Options over copies of the images given (null: that one left out).
    CacheSetOptions options_over(const std::vector<MemDevice*>& images, bool degraded) {
        devices_.clear();
        for (MemDevice* image : images)
            if (image) devices_.push_back(copy_of(*image));
        CacheSetOptions o = set_options(replicas_);
        o.degraded = degraded;
        return o;
    }
    // Options over both members again: the present one as a degraded open
    // left it, the missing one as it was before.
    CacheSetOptions both_members(MemDevice* present_image, MemDevice* missing_image, unsigned missing) {
        std::vector<MemDevice*> both(2);
        both[1 - missing] = present_image;
        both[missing] = missing_image;
        return options_over(both, false);
    }
    // Files over old backing contents, each overwritten dirty with fsync;
    // returns what each file holds now.
    std::vector<std::string> write_dirty_files(int files, std::size_t bytes) {
        std::vector<std::string> model;
        for (int i = 0; i < files; ++i) {
            write_whole(path(fmt::format("f{}", i)), std::string(bytes, 'o'));
            EngineFile f(*set_, path(fmt::format("f{}", i)));
            model.push_back(random_bytes(rng_, bytes));
            write_synced(f, 0, model.back());
        }
        EXPECT_GT(set_->writeback_status().dirty, 0u);
        return model;
    }
    // Every file f<i> reads back through the engine as model[i] (and, with
    // `in_backing`, holds it in its backing file too).
    void expect_files_hold(const std::vector<std::string>& model, bool in_backing = false) {
        for (std::size_t i = 0; i < model.size(); ++i) {
            const std::string name = path(fmt::format("f{}", i));
            EngineFile f(*set_, name);
            EXPECT_TRUE(f.read(0, model[i].size()) == model[i]) << "file " << i << " through the cache";
            if (in_backing) {
                EXPECT_TRUE(backing_read(name, 0, model[i].size()) == model[i]) << "file " << i << " in the backing";
            }
        }
    }
    void expect_consistent() {
        ASSERT_TRUE(set_->run_gc());
        auto report = set_->check_consistency();
        ASSERT_TRUE(report) << report.error().message;
        EXPECT_TRUE(report.value().ok()) << (report.value().problems.empty() ? "" : report.value().problems[0]);
    }
    Status open_error(CacheSetOptions o) {
        auto set = CacheSet::open(std::move(o), log_);
        if (set) return ok();
        return set.error();
    }
    std::uint64_t file_id(const EngineFile& f) {
        std::lock_guard lk(f.state->mutex);
        return f.state->record.file_id;
    }
    std::vector<Extent> extents_of(const EngineFile& f, std::uint64_t size) {
        auto e = set_->index().lookup(file_id(f), 0, size);
        EXPECT_TRUE(e);
        return e ? e.value() : std::vector<Extent>{};
    }
    // Every block written with fsync acknowledged, then read back.
    void write_synced(EngineFile& f, std::uint64_t offset, const std::string& data) {
        f.write(offset, data);
        auto st = set_->fsync(*f.state, f.backing.fd(), false);
        ASSERT_TRUE(st) << st.error().message;
    }

    unsigned replicas_ = 1;
    FaultyDevice* faults_[2] = {nullptr, nullptr};
    std::vector<std::unique_ptr<BlockDevice>> devices_;
};

// ---- opening a set ----

TEST_F(ReplicasTest, DevicesTakeTheirPlaceWhateverTheOrderGiven) {
    make_set();
    std::swap(devices_[0], devices_[1]);
    std::swap(faults_[0], faults_[1]);
    open_set(set_options(2));
    EXPECT_EQ(set_->alloc().ndevices(), 2u);
    EXPECT_EQ(set_->device(0).path(), "mem0");
    EXPECT_EQ(set_->device(1).path(), "mem1");
    EXPECT_EQ(set_->device(1).superblock().dev_idx, 1u);
    // The index belongs to the set, not to either device.
    EXPECT_EQ(set_->index().cache_uuid(), set_->device(0).superblock().set_uuid);
}

TEST_F(ReplicasTest, AMissingMemberIsNamed) {
    make_set();
    devices_.pop_back();
    const Status st = open_error(set_options(1));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::not_found);
    EXPECT_NE(st.error().message.find("device 1 of it is not given"), std::string::npos) << st.error().message;
    EXPECT_EQ(st.error().message.find('\n'), std::string::npos);
}

TEST_F(ReplicasTest, DevicesOfAnotherSetAreRefused) {
    make_set();
    auto other_a = mem_device("other0");
    auto other_b = mem_device("other1");
    ASSERT_TRUE(format_block_device_set({other_a.get(), other_b.get()}, set_format()));
    devices_[1] = std::move(other_b);
    const Status st = open_error(set_options(1));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::foreign) << st.error().message;
}

TEST_F(ReplicasTest, TheSameMemberTwiceIsRefused) {
    auto a = mem_device("mem0");
    auto b = mem_device("mem1");
    ASSERT_TRUE(format_block_device_set({a.get(), b.get()}, set_format()));
    // A byte-for-byte copy of device 0 stands in for device 1.
    auto copy = mem_device("mem0-copy");
    AlignedBuffer buf(a->size(), 4096);
    ASSERT_TRUE(a->read(0, buf.span()));
    ASSERT_TRUE(copy->write(0, buf.span()));
    devices_.push_back(std::move(a));
    devices_.push_back(std::move(copy));
    const Status st = open_error(set_options(1));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::invalid);
    EXPECT_NE(st.error().message.find("given twice"), std::string::npos) << st.error().message;
}

TEST_F(ReplicasTest, ReplicasBeyondTheDevicesAreRefused) {
    auto one = mem_device("alone");
    ASSERT_TRUE(format_block_device(*one, set_format()));
    devices_.push_back(std::move(one));
    Status st = open_error(set_options(2));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::invalid);
    EXPECT_NE(st.error().message.find("replicas=2"), std::string::npos) << st.error().message;
    make_set();
    st = open_error(set_options(3));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::invalid);
}

TEST_F(ReplicasTest, SeveralPathsWithACreateSizeAreRefused) {
    CacheSetOptions o = options();
    o.cache_paths = {dir_.file("a.img"), dir_.file("b.img")};
    o.create_size = 8 << 20;
    const Status st = open_error(std::move(o));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::invalid);
    EXPECT_NE(::access(dir_.file("a.img").c_str(), F_OK), 0);
}

TEST_F(ReplicasTest, ASetOfFilesOpensByPath) {
    const std::string p0 = dir_.file("a.img"), p1 = dir_.file("b.img");
    FormatOptions fo = set_format();
    fo.size = (first_bucket_for(kTestBucketSize) + kSetBuckets) * kTestBucketSize;
    ASSERT_TRUE(format_set({p0, p1}, fo));
    CacheSetOptions o = options();
    o.cache_paths = {p1, p0};
    o.replicas = 2;
    o.backing_root_fd = root_fd_;
    o.tunables.mode = CacheMode::writeback;
    open_set(std::move(o));
    EXPECT_EQ(set_->device(0).path(), p0);
    const CacheStats s = set_->stats();
    EXPECT_EQ(s.buckets_total, 2 * kSetBuckets);
    // Named twice: refused before anything is opened.
    CacheSetOptions twice = options();
    twice.cache_paths = {p0, p0};
    set_.reset();
    EXPECT_EQ(open_error(std::move(twice)).error().code, Errc::invalid);
}

// ---- replicated dirty data ----

TEST_F(ReplicasTest, DirtyDataHasACopyOnEachDeviceAndCleanDataOneSpreadOverBoth) {
    open_replicated(2);
    const std::string dirty = random_bytes(rng_, 6 * kTestBucketSize);
    write_whole(path("d"), "");
    {
        EngineFile d(*set_, path("d"));
        write_synced(d, 0, dirty);
        const auto extents = extents_of(d, dirty.size());
        ASSERT_FALSE(extents.empty());
        for (const Extent& e : extents) {
            EXPECT_TRUE(e.value.dirty());
            ASSERT_EQ(e.value.nptrs(), 2u);
            EXPECT_NE(e.value.ptr(0).device, e.value.ptr(1).device);
            for (unsigned i = 0; i < 2; ++i) {
                const ExtentPtr p = e.value.ptr(i);
                EXPECT_EQ(set_->alloc().device(p.device).bucket(p.bucket).mark, GcMark::dirty);
            }
        }
        EXPECT_EQ(d.read(0, dirty.size()), dirty);
    }
    // Read misses are clean: one copy each, on both devices over time.
    const std::string clean = random_bytes(rng_, 8 * kTestBucketSize);
    write_whole(path("c"), clean);
    EngineFile c(*set_, path("c"));
    EXPECT_EQ(c.read_chunked(0, clean.size(), kTestBucketSize), clean);
    std::set<unsigned> devices;
    for (const Extent& e : extents_of(c, clean.size())) {
        EXPECT_FALSE(e.value.dirty());
        EXPECT_EQ(e.value.nptrs(), 1u);
        devices.insert(e.value.device);
    }
    EXPECT_EQ(devices, (std::set<unsigned>{0, 1}));
    // Both copies count in the bucket accounting.
    ASSERT_TRUE(set_->run_gc());
    auto report = set_->check_consistency();
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report.value().ok()) << (report.value().problems.empty() ? "" : report.value().problems[0]);
}

TEST_F(ReplicasTest, GcKeepsBothBucketsOfADirtyExtentLive) {
    open_replicated(2);
    const std::string dirty = random_bytes(rng_, 3 * kTestBucketSize);
    write_whole(path("d"), "");
    {
        EngineFile d(*set_, path("d"));
        write_synced(d, 0, dirty);
        ASSERT_TRUE(set_->run_gc());
        set_->run_background_until_idle();
        for (const Extent& e : extents_of(d, dirty.size())) {
            ASSERT_EQ(e.value.nptrs(), 2u);
            for (unsigned i = 0; i < 2; ++i) {
                const ExtentPtr p = e.value.ptr(i);
                const BucketInfo info = set_->alloc().device(p.device).bucket(p.bucket);
                EXPECT_EQ(info.mark, GcMark::dirty) << "device " << unsigned(p.device);
                EXPECT_GT(info.sectors_used, 0u);
                EXPECT_EQ(info.gen, p.gen);
            }
        }
    }
    // And after a restart, which marks from the index alone.
    reopen_replicated();
    EngineFile again(*set_, path("d"));
    EXPECT_EQ(again.read(0, dirty.size()), dirty);
    // Written back, the data is clean and keeps one copy.
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_EQ(backing_read(path("d"), 0, dirty.size()), dirty);
    for (const Extent& e : extents_of(again, dirty.size())) {
        EXPECT_FALSE(e.value.dirty());
        EXPECT_EQ(e.value.nptrs(), 1u);
    }
    EXPECT_EQ(again.read(0, dirty.size()), dirty);
}

TEST_F(ReplicasTest, APinnedFilesDirtyDataHasBothCopiesInPinnedBucketsAndStaysPinnedWrittenBack) {
    open_replicated(2);
    const std::string dirty = random_bytes(rng_, 3 * kTestBucketSize);
    write_whole(path("p"), "");
    {
        const int fd = ::open(path("p").c_str(), O_PATH | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        struct statx stx {};
        ASSERT_EQ(::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx), 0);
        const Status pinned = set_->set_pinned(fd, stx, true);
        ::close(fd);
        ASSERT_TRUE(pinned) << pinned.error().message;
    }
    EngineFile p(*set_, path("p"));
    set_->run_background_until_idle();
    write_synced(p, 0, dirty);
    EXPECT_EQ(set_->stats().pinned_bytes, dirty.size()) << "each extent once, whatever its copies";
    ASSERT_TRUE(set_->run_gc());
    for (const Extent& e : extents_of(p, dirty.size())) {
        EXPECT_TRUE(e.value.dirty());
        EXPECT_TRUE(e.value.pinned());
        ASSERT_EQ(e.value.nptrs(), 2u);
        for (unsigned i = 0; i < 2; ++i) {
            const ExtentPtr ptr = e.value.ptr(i);
            EXPECT_EQ(set_->alloc().device(ptr.device).bucket(ptr.bucket).mark, GcMark::pinned)
                << "device " << unsigned(ptr.device);
        }
    }
    EXPECT_EQ(set_->stats().pinned_bytes, dirty.size());
    // Written back: clean, one copy, still pinned.
    ASSERT_TRUE(set_->write_back_all());
    ASSERT_TRUE(set_->run_gc());
    for (const Extent& e : extents_of(p, dirty.size())) {
        EXPECT_FALSE(e.value.dirty());
        EXPECT_TRUE(e.value.pinned());
        EXPECT_EQ(e.value.nptrs(), 1u);
        EXPECT_EQ(set_->alloc().device(e.value.device).bucket(e.value.bucket).mark, GcMark::pinned);
    }
    EXPECT_EQ(set_->stats().pinned_bytes, dirty.size());
    EXPECT_EQ(p.read(0, dirty.size()), dirty);
    auto report = set_->check_consistency();
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report.value().ok()) << (report.value().problems.empty() ? "" : report.value().problems[0]);
}

// A copy whose bucket was reused is taken out of an extent another copy
// keeps live: left in, its gen could match again after the gen wraps.
TEST_F(ReplicasTest, GcDropsACopyWhoseBucketWasReused) {
    open_replicated(2);
    const std::string clean = random_bytes(rng_, kTestBucketSize);
    write_whole(path("c"), clean);
    EngineFile c(*set_, path("c"));
    ASSERT_EQ(c.read(0, clean.size()), clean);
    auto extents = extents_of(c, clean.size());
    ASSERT_EQ(extents.size(), 1u);
    const Extent e = extents[0];
    ASSERT_EQ(e.value.nptrs(), 1u);
    // A second copy on the other device, one gen behind its bucket.
    const std::uint8_t other = e.value.device == 0 ? 1 : 0;
    const std::uint64_t bucket = set_->alloc().device(other).geometry().nbuckets - 1;
    const std::uint8_t gen = set_->alloc().device(other).bucket(bucket).gen;
    ExtentValue two = e.value;
    two.replica = ExtentPtr{other, bucket, static_cast<std::uint8_t>(gen - 1), bucket * (kTestBucketSize / 512)};
    IndexBatch batch;
    batch.replace_extent_if_unchanged(e.key, e.value, two);
    ASSERT_TRUE(set_->index().commit(batch, false));
    ASSERT_EQ(extents_of(c, clean.size())[0].value.nptrs(), 2u);
    ASSERT_TRUE(set_->run_gc());
    extents = extents_of(c, clean.size());
    ASSERT_EQ(extents.size(), 1u);
    EXPECT_EQ(extents[0].value, e.value) << "the stale copy is gone, the live one stays";
    EXPECT_EQ(c.read(0, clean.size()), clean);
}

TEST_F(ReplicasTest, AReadErrorOnOneCopyIsServedFromTheOther) {
    open_replicated(2);
    const std::string dirty = random_bytes(rng_, 2 * kTestBucketSize);
    write_whole(path("d"), "");
    EngineFile d(*set_, path("d"));
    write_synced(d, 0, dirty);
    set_->set_io_error_tunables(IoErrorTunables{1000, 0});
    faults_[0]->add_fault(FaultRule{.kind = IoKind::read});
    EXPECT_EQ(d.read(0, dirty.size()), dirty);
    EXPECT_GT(faults_[0]->injected(IoKind::read), 0u);
    EXPECT_EQ(set_->state(), CacheState::running);
}

TEST_F(ReplicasTest, OneCopyOfDirtyDataIsLostWithItsDevice) {
    // The same read error with one copy: the dirty data cannot be read,
    // and the older backing bytes are never served in its place.
    open_replicated(1);
    const std::string dirty = random_bytes(rng_, 2 * kTestBucketSize);
    write_whole(path("d"), std::string(dirty.size(), 'x'));
    EngineFile d(*set_, path("d"));
    write_synced(d, 0, dirty);
    set_->set_io_error_tunables(IoErrorTunables{1000, 0});
    for (FaultyDevice* f : faults_) f->add_fault(FaultRule{.kind = IoKind::read});
    std::string buf(dirty.size(), '\0');
    auto n = set_->read(*d.state, d.backing.fd(), 0, std::as_writable_bytes(std::span(buf.data(), buf.size())));
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().code, Errc::io);
}

TEST_F(ReplicasTest, MovingGcMovesOneCopyAndKeepsTheOther) {
    make_set_of(64);
    open_set(set_options(2));
    std::string data = random_bytes(rng_, 36 * kTestBucketSize);
    write_whole(path("a"), "");
    EngineFile a(*set_, path("a"));
    // A bucket at a time: the freelists of small devices are short, and
    // only the background work refills them.
    for (std::uint64_t off = 0; off < data.size(); off += kTestBucketSize) {
        a.write(off, data.substr(off, kTestBucketSize));
        set_->run_background_until_idle();
    }
    ASSERT_TRUE(set_->fsync(*a.state, a.backing.fd(), false));
    const std::vector<Extent> before = extents_of(a, data.size());
    ASSERT_EQ(set_->writeback_status().dirty, data.size());
    // Whole blocks overwritten around the cache leave sparse buckets.
    ASSERT_TRUE(set_->set_mode(CacheMode::writearound));
    constexpr std::uint64_t kBlocks = kTestBucketSize / kTestBlockSize;
    for (std::uint64_t region = 0; region * kTestBucketSize < data.size(); ++region) {
        for (std::uint64_t i = 0; i < kBlocks; ++i) {
            if (i % 8 == 0) continue;  // two blocks of each bucket stay dirty
            const std::uint64_t off = (region * kBlocks + i) * kTestBlockSize;
            const std::string fresh = random_bytes(rng_, kTestBlockSize);
            a.write(off, fresh);
            data.replace(off, kTestBlockSize, fresh);
        }
    }
    ASSERT_TRUE(set_->run_gc());
    set_->run_background_until_idle();
    ASSERT_TRUE(set_->run_gc());
    set_->run_background_until_idle();
    ASSERT_GT(set_->stats().moved_bytes, 0u);
    std::size_t one_moved = 0;
    for (const Extent& e : extents_of(a, data.size())) {
        if (!e.value.dirty()) continue;
        ASSERT_EQ(e.value.nptrs(), 2u);
        EXPECT_NE(e.value.ptr(0).device, e.value.ptr(1).device);
        for (const Extent& old : before) {
            if (old.start() > e.start() || old.end() < e.end()) continue;
            const bool moved0 = e.value.ptr(0).bucket != old.value.ptr(0).bucket;
            const bool moved1 = e.value.ptr(1).bucket != old.value.ptr(1).bucket;
            if (moved0 != moved1) ++one_moved;
        }
    }
    EXPECT_GT(one_moved, 0u) << "a move rewrites the copy in the emptied bucket only";
    EXPECT_EQ(a.read(0, data.size()), data);
    ASSERT_TRUE(set_->run_gc());
    auto report = set_->check_consistency();
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report.value().ok()) << (report.value().problems.empty() ? "" : report.value().problems[0]);
    // Each copy alone still holds the data: read with the other device failing.
    set_->set_io_error_tunables(IoErrorTunables{1000, 0});
    faults_[1]->add_fault(FaultRule{.kind = IoKind::read});
    EXPECT_EQ(a.read(0, data.size()), data);
    faults_[1]->clear_faults();
    faults_[0]->add_fault(FaultRule{.kind = IoKind::read});
    EXPECT_EQ(a.read(0, data.size()), data);
    faults_[0]->clear_faults();
}

// ---- a device failing ----

TEST_F(ReplicasTest, WithTwoCopiesADeviceFailingLosesNoAcknowledgedWrite) {
    open_replicated(2);
    set_->set_io_error_tunables(IoErrorTunables{2, 0});
    const auto model = run_failing_workload();
    ASSERT_TRUE(until_passthrough());
    EXPECT_EQ(set_->writeback_status().dirty, 0u);
    expect_files_hold(model, /*in_backing=*/true);
}

TEST_F(ReplicasTest, DeviceStatusNamesTheDeviceThatFailed) {
    open_replicated(2);
    write_dirty_files(2, 3 * kTestBucketSize);
    auto before = set_->device_status();
    ASSERT_TRUE(before) << before.error().message;
    ASSERT_EQ(before.value().size(), 2u);
    for (unsigned d = 0; d < 2; ++d) {
        const DeviceStatus& s = before.value()[d];
        EXPECT_EQ(s.dev_idx, d);
        EXPECT_EQ(s.state, DeviceState::working);
        EXPECT_EQ(s.path, set_->device(d).path());
        EXPECT_EQ(s.io_errors, 0u);
        EXPECT_GT(s.buckets.dirty, 0u) << "each device holds a copy of the dirty data";
        EXPECT_EQ(s.buckets.buckets * 2, set_->priority_stats().value().buckets);
    }

    set_->set_io_error_tunables(IoErrorTunables{2, 0});
    run_failing_workload();  // device 0 fails
    ASSERT_TRUE(until_passthrough());
    auto after = set_->device_status();
    ASSERT_TRUE(after) << after.error().message;
    EXPECT_EQ(after.value()[0].state, DeviceState::failed);
    EXPECT_GE(after.value()[0].io_errors, 2u);
    EXPECT_EQ(after.value()[1].state, DeviceState::working);
    EXPECT_EQ(after.value()[1].io_errors, 0u);
    const std::string text = format_device_status(after.value());
    EXPECT_NE(text.find(fmt::format("0    failed   {}", after.value()[0].io_errors)), std::string::npos) << text;
    EXPECT_NE(text.find("1    working  0"), std::string::npos) << text;
}

TEST_F(ReplicasTest, WithOneCopyADeviceFailingLosesDirtyDataOnIt) {
    open_replicated(1);
    set_->set_io_error_tunables(IoErrorTunables{2, 0});
    const auto model = run_failing_workload();
    ASSERT_TRUE(until_passthrough());
    EXPECT_GT(set_->writeback_status().dirty, 0u) << "dirty data on the failed device stays unreadable";
    std::size_t lost = 0;
    for (std::size_t i = 0; i < model.size(); ++i) {
        EngineFile f(*set_, path(fmt::format("f{}", i)));
        std::string buf(model[i].size(), '\0');
        auto n = set_->read(*f.state, f.backing.fd(), 0, std::as_writable_bytes(std::span(buf.data(), buf.size())));
        if (!n || buf != model[i]) ++lost;
    }
    EXPECT_GT(lost, 0u);
}

// ---- a member missing at mount (degraded) ----

class DegradedTest : public ReplicasTest, public ::testing::WithParamInterface<unsigned> {};

TEST_P(DegradedTest, WithTwoCopiesEveryDirtyByteIsWrittenBackFromThePresentDevice) {
    const unsigned missing = GetParam();
    const unsigned present = 1 - missing;
    open_replicated(2);
    const auto model = write_dirty_files(3, 5 * kTestBlockSize + 3 * kTestBucketSize);
    auto images = close_and_take_images();
    std::vector<MemDevice*> only_present{images[present].get()};

    const Status refused = open_error(options_over(only_present, false));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::not_found);
    EXPECT_NE(refused.error().message.find(fmt::format("device {} of it is not given", missing)), std::string::npos)
        << refused.error().message;
    EXPECT_NE(refused.error().message.find("degraded"), std::string::npos) << refused.error().message;
    EXPECT_EQ(refused.error().message.find('\n'), std::string::npos);

    open_set(options_over(only_present, true));
    EXPECT_EQ(set_->state(), CacheState::failing);
    EXPECT_FALSE(set_->device(missing).present());
    EXPECT_TRUE(set_->device(present).present());
    auto status = set_->device_status();
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(status.value()[missing].state, DeviceState::missing);
    EXPECT_EQ(status.value()[missing].path, "");
    EXPECT_EQ(status.value()[present].state, DeviceState::working);
    EXPECT_NE(format_device_status(status.value()).find(fmt::format("{}    missing", missing)), std::string::npos);
    expect_files_hold(model);
    ASSERT_TRUE(until_passthrough());
    EXPECT_EQ(set_->writeback_status().dirty, 0u);
    EXPECT_EQ(set_->stats().io_errors, 0u) << "the missing device is never asked for anything";
    expect_files_hold(model, /*in_backing=*/true);
    auto after = close_and_take_images();

    // Both members back: the set opens as before, consistent.
    open_set(both_members(after[present].get(), images[missing].get(), missing));
    EXPECT_EQ(set_->state(), CacheState::running);
    expect_consistent();
    expect_files_hold(model);
}

TEST_P(DegradedTest, WithOneCopyDirtyDataOnlyTheMissingDeviceHeldReadsAsEio) {
    const unsigned missing = GetParam();
    const unsigned present = 1 - missing;
    open_replicated(1);
    const std::size_t bytes = 4 * kTestBucketSize;
    const auto model = write_dirty_files(4, bytes);
    auto images = close_and_take_images();

    open_set(options_over({images[present].get()}, true));
    ASSERT_TRUE(until_passthrough());
    EXPECT_GT(set_->writeback_status().dirty, 0u) << "the dirty data on the missing device stays dirty";
    std::size_t lost_blocks = 0;
    for (std::size_t i = 0; i < model.size(); ++i) {
        EngineFile f(*set_, path(fmt::format("f{}", i)));
        for (std::size_t off = 0; off < bytes; off += kTestBlockSize) {
            std::string buf(kTestBlockSize, '\0');
            auto n =
                set_->read(*f.state, f.backing.fd(), off, std::as_writable_bytes(std::span(buf.data(), buf.size())));
            if (!n) {
                EXPECT_EQ(n.error().code, Errc::io) << n.error().message;
                ++lost_blocks;
                continue;
            }
            // Never the backing file's older bytes.
            EXPECT_EQ(buf, model[i].substr(off, kTestBlockSize)) << "file " << i << " at " << off;
        }
    }
    EXPECT_GT(lost_blocks, 0u);
    auto after = close_and_take_images();

    open_set(both_members(after[present].get(), images[missing].get(), missing));
    expect_consistent();
    expect_files_hold(model);
}

// The daemon dies with the power, which takes what the devices had not
// flushed; then one device is found dead: mounted degraded, the other
// still holds a copy of everything fsync acknowledged, and it is written
// back from there.
TEST_P(DegradedTest, AfterAPowerLossEveryAcknowledgedByteIsWrittenBackFromThePresentDevice) {
    const unsigned missing = GetParam();
    const unsigned present = 1 - missing;
    const std::string images[2] = {dir_.file("a.img"), dir_.file("b.img")};
    FormatOptions fo = set_format();
    fo.size = (first_bucket_for(kTestBucketSize) + kSetBuckets) * kTestBucketSize;
    ASSERT_TRUE(format_set({images[0], images[1]}, fo));
    constexpr int kFiles = 3;
    const std::size_t bytes = 5 * kTestBlockSize + 3 * kTestBucketSize;
    for (int i = 0; i < kFiles; ++i) write_whole(path(fmt::format("f{}", i)), std::string(bytes, 'o'));
    const auto set_of_files = [&](std::vector<std::string> paths, bool degraded) {
        CacheSetOptions o = options();
        o.cache_paths = std::move(paths);
        o.replicas = 2;
        o.degraded = degraded;
        o.backing_root_fd = root_fd_;
        o.tunables.mode = CacheMode::writeback;
        o.tunables.writeback.writeback_running = false;
        return o;
    };

    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // What each fsync acknowledged goes to a file of its own beside it.
        Logger quiet{LogLevel::error};
        CacheSetOptions o = set_of_files({}, false);
        FaultyDevice* faulty[2] = {nullptr, nullptr};
        for (unsigned d = 0; d < 2; ++d) {
            auto file = FileDevice::open(images[d]);
            if (!file) ::_exit(2);
            auto dev = std::make_unique<FaultyDevice>(std::move(file).value());
            faulty[d] = dev.get();
            o.devices.push_back(std::move(dev));
        }
        auto opened = CacheSet::open(std::move(o), quiet);
        if (!opened) ::_exit(3);
        CacheSet& set = *opened.value();
        for (int i = 0; i < kFiles; ++i) {
            EngineFile f(set, path(fmt::format("f{}", i)));
            const std::string data = random_bytes(rng_, bytes);
            auto n = set.write(*f.state, f.backing.fd(), 0, std::as_bytes(std::span(data.data(), data.size())));
            if (!n || n.value() != data.size() || !set.fsync(*f.state, f.backing.fd(), false)) ::_exit(4);
            write_whole(path(fmt::format("acked{}", i)), data);
            set.run_background_until_idle();  // refills the freelists
        }
        if (set.writeback_status().dirty == 0) ::_exit(5);
        for (FaultyDevice* dev : faulty)
            if (!dev->crash()) ::_exit(6);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed at step " << WEXITSTATUS(status);
    std::vector<std::string> acked;
    for (int i = 0; i < kFiles; ++i) {
        acked.push_back(backing_read(path(fmt::format("acked{}", i)), 0, bytes));
        ASSERT_EQ(acked.back().size(), bytes);
        ASSERT_FALSE(backing_read(path(fmt::format("f{}", i)), 0, bytes) == acked.back())
            << "file " << i << " was written back already";
    }

    open_set(set_of_files({images[present]}, true));
    EXPECT_FALSE(set_->opened_clean());
    EXPECT_EQ(set_->state(), CacheState::failing);
    ASSERT_TRUE(until_passthrough());
    EXPECT_EQ(set_->writeback_status().dirty, 0u);
    expect_files_hold(acked, /*in_backing=*/true);
    ASSERT_TRUE(set_->close());
    set_.reset();

    // Both devices back: consistent, nothing dirty, nothing stale.
    open_set(set_of_files({images[0], images[1]}, false));
    EXPECT_EQ(set_->state(), CacheState::running);
    EXPECT_EQ(set_->writeback_status().dirty, 0u);
    expect_consistent();
    expect_files_hold(acked);
}

TEST_F(ReplicasTest, DegradedWithEveryMemberPresentChangesNothing) {
    make_set();
    CacheSetOptions o = set_options(2);
    o.degraded = true;
    open_set(std::move(o));
    EXPECT_EQ(set_->state(), CacheState::running);
    EXPECT_TRUE(set_->device(0).present());
    EXPECT_TRUE(set_->device(1).present());
    write_whole(path("d"), "");
    EngineFile d(*set_, path("d"));
    const std::string data = random_bytes(rng_, 3 * kTestBlockSize);
    write_synced(d, 0, data);
    EXPECT_EQ(extents_of(d, data.size()).at(0).value.nptrs(), 2u);
}

INSTANTIATE_TEST_SUITE_P(MissingDevice, DegradedTest, ::testing::Values(0u, 1u));

}  // namespace
}  // namespace bcl::test
