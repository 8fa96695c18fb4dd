// A cache set of two devices: opening it (membership checks), dirty data
// written to both with replicas=2, clean data spread over both, reads of
// either copy, GC and moving GC over both pointers, and a device that
// fails in the middle of dirty writes.
#include "replicas_fixture.h"

namespace bcl::test {
namespace {

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
        const Status pinned = set_->pins().set_pinned(fd, stx, true);
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
    set_io_errors(*set_, IoErrorTunables{1000, 0});
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
    set_io_errors(*set_, IoErrorTunables{1000, 0});
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
    set_io_errors(*set_, IoErrorTunables{1000, 0});
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
    set_io_errors(*set_, IoErrorTunables{2, 0});
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

    set_io_errors(*set_, IoErrorTunables{2, 0});
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
    set_io_errors(*set_, IoErrorTunables{2, 0});
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

}  // namespace
}  // namespace bcl::test
