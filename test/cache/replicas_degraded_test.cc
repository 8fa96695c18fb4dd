// A cache set opened with a member missing (degraded): dirty data written
// back from the present device, what only the missing one held read as
// EIO, and a power loss before the mount.
#include "replicas_fixture.h"

namespace bcl::test {
namespace {

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
