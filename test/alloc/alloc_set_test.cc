// AllocSet: one bucket per device, rollback, rescale_priorities.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "test_support.h"

namespace bcl {
namespace {

class AllocSetTest : public ::testing::Test {
protected:
    void make(std::vector<Geometry> geometries) {
        std::vector<CacheDeviceConfig> devices;
        for (const Geometry& g : geometries) devices.push_back(CacheDeviceConfig{g, {}});
        auto r = AllocSet::create(devices, store_, exec_.executor());
        ASSERT_TRUE(r) << r.error().message;
        set_ = std::move(r).value();
    }
    void refill(unsigned dev) {
        set_->device(dev).gc_finish();
        exec_.run_until_idle();
    }

    test::FakeGenStore store_;
    test::ManualExecutor exec_;
    std::unique_ptr<AllocSet> set_;
};

TEST_F(AllocSetTest, OneBucketFromEachDevice) {
    make({test::small_geometry(), test::small_geometry(128)});
    refill(0);
    refill(1);
    auto r = set_->alloc_set(Reserve::none, 2, false);
    ASSERT_TRUE(r) << r.error().message;
    const AllocPtrs ptrs = r.value();
    ASSERT_EQ(ptrs.nptrs, 2u);
    for (unsigned i = 0; i < 2; ++i) {
        const AllocPtr& p = ptrs.ptr[i];
        EXPECT_EQ(p.dev, i);
        EXPECT_EQ(p.offset, p.bucket * 16);
        EXPECT_EQ(p.gen, set_->device(i).bucket(p.bucket).gen);
        EXPECT_EQ(set_->device(i).bucket(p.bucket).pin, 1);
    }
    set_->put(ptrs);
    for (const AllocPtr& p : ptrs) EXPECT_EQ(set_->device(p.dev).bucket(p.bucket).pin, 0);
}

// One bucket at a time from two devices with the same number ready: each
// device in turn, not device 0 every time.
TEST_F(AllocSetTest, SingleBucketsSpreadOverEqualDevices) {
    make({test::small_geometry(), test::small_geometry()});
    refill(0);
    refill(1);
    unsigned taken[2] = {0, 0};
    for (int i = 0; i < 4; ++i) {
        auto r = set_->alloc_set(Reserve::none, 1, false);
        ASSERT_TRUE(r) << r.error().message;
        ++taken[r.value().ptr[0].dev];
        set_->put(r.value());
        refill(r.value().ptr[0].dev);
    }
    EXPECT_EQ(taken[0], 2u);
    EXPECT_EQ(taken[1], 2u);
}

TEST_F(AllocSetTest, TheDeviceWithMoreReadyBucketsGoesFirstAndAvoidedOnesNever) {
    make({test::small_geometry(), test::small_geometry()});
    refill(0);
    refill(1);
    // Device 0 gives some away first: device 1 then has more ready.
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(set_->device(0).bucket_alloc(Reserve::none, false));
    for (int i = 0; i < 2; ++i) {
        auto r = set_->alloc_set(Reserve::none, 1, false);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r.value().ptr[0].dev, 1u);
        set_->put(r.value());
        refill(1);
    }
    auto avoided = set_->alloc_set(Reserve::none, 1, false, /*avoid_devs=*/1u << 1);
    ASSERT_TRUE(avoided) << avoided.error().message;
    EXPECT_EQ(avoided.value().ptr[0].dev, 0u);
    EXPECT_EQ(set_->alloc_set(Reserve::none, 2, false, 1u << 1).error().code, Errc::invalid);
}

TEST_F(AllocSetTest, RefusesImpossibleRequestsAndMismatchedDevices) {
    make({test::small_geometry()});
    EXPECT_EQ(set_->alloc_set(Reserve::none, 0, false).error().code, Errc::invalid);
    EXPECT_EQ(set_->alloc_set(Reserve::none, 2, false).error().code, Errc::invalid);
    std::vector<CacheDeviceConfig> mismatched{{Geometry{64, 1, 16, 2}, {}}, {Geometry{64, 1, 32, 2}, {}}};
    EXPECT_EQ(AllocSet::create(mismatched, store_, exec_.executor()).error().code, Errc::invalid);
    std::vector<CacheDeviceConfig> none;
    EXPECT_EQ(AllocSet::create(none, store_, exec_.executor()).error().code, Errc::invalid);
}

TEST_F(AllocSetTest, FailureRollsBackWithoutPinningOrLosingABucket) {
    make({test::small_geometry(), test::small_geometry(), test::small_geometry()});
    refill(0);
    refill(1);  // device 2 never gets GC marks: it has nothing to give
    auto before0 = set_->device(0).freelist(Reserve::none);
    auto before1 = set_->device(1).freelist(Reserve::none);
    auto r = set_->alloc_set(Reserve::none, 3, false);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::again);
    // The buckets taken from devices 0 and 1 are free and unpinned: they can
    // be invalidated again (gen bumped once more) rather than being lost.
    for (unsigned dev = 0; dev < 2; ++dev) {
        const std::uint64_t b = (dev == 0 ? before0 : before1).front();
        const BucketInfo info = set_->device(dev).bucket(b);
        EXPECT_EQ(info.pin, 0) << "device " << dev;
        EXPECT_EQ(info.mark, GcMark::unused);
        EXPECT_EQ(info.sectors_used, 0);
        // Every data bucket: pinned exactly when it sits on a list.
        auto& ca = set_->device(dev);
        std::vector<std::uint64_t> listed = ca.free_inc();
        for (auto x : ca.freelist(Reserve::none)) listed.push_back(x);
        for (auto x : ca.freelist(Reserve::movinggc)) listed.push_back(x);
        for (std::uint64_t x = 2; x < 64; ++x) {
            const bool on_list = std::find(listed.begin(), listed.end(), x) != listed.end();
            EXPECT_EQ(ca.bucket(x).pin, on_list ? 1 : 0) << "device " << dev << " bucket " << x;
        }
    }
    // Shut down, a waiting alloc_set fails the same way.
    set_->shutdown();
    EXPECT_EQ(set_->alloc_set(Reserve::none, 1, true).error().code, Errc::shutdown);
}

TEST_F(AllocSetTest, RescaleAgesEveryIntervalAndRecomputesMinPrio) {
    // 2 devices x 128 buckets x 16 sectors / 1024 = 4 sectors per round.
    make({test::small_geometry(128), test::small_geometry(128)});
    ASSERT_EQ(set_->rescale_interval(), 4);
    std::vector<BucketGenPrio> persisted;
    for (std::uint64_t b = 0; b < 128; ++b) persisted.push_back({b, 0, static_cast<std::uint16_t>(1000 + b)});
    persisted[5].prio = 0;
    persisted[6].prio = kBtreePrio;
    ASSERT_TRUE(set_->device(0).load(persisted));
    ASSERT_TRUE(set_->device(1).load(persisted));
    ASSERT_TRUE(set_->device(0).pin(7, 0));
    EXPECT_EQ(set_->device(0).min_prio(), 0);

    set_->rescale_priorities(3);
    set_->rescale_priorities(1);  // countdown at 0: not yet
    EXPECT_EQ(set_->device(0).bucket(10).prio, 1010);
    set_->rescale_priorities(1);  // below 0: one round
    EXPECT_EQ(set_->device(0).bucket(10).prio, 1009);
    EXPECT_EQ(set_->device(1).bucket(10).prio, 1009);
    EXPECT_EQ(set_->device(0).bucket(5).prio, 0);
    EXPECT_EQ(set_->device(0).bucket(6).prio, kBtreePrio);
    EXPECT_EQ(set_->device(0).bucket(7).prio, 1007);  // pinned: not aged
    EXPECT_EQ(set_->device(1).bucket(7).prio, 1006);
    set_->rescale_priorities(3);
    EXPECT_EQ(set_->device(0).bucket(10).prio, 1009);
    set_->rescale_priorities(1);
    EXPECT_EQ(set_->device(0).bucket(10).prio, 1008);

    // A hit lifts a bucket back up; min_prio follows the oldest.
    for (std::uint64_t b = 0; b < 128; ++b) set_->bucket_hit(AllocPtr{1, b, 0, 0});
    set_->rescale_priorities(4);
    EXPECT_EQ(set_->device(1).bucket(10).prio, kInitialPrio - 1);
    EXPECT_EQ(set_->device(1).min_prio(), kInitialPrio - 1);
    EXPECT_EQ(set_->device(0).min_prio(), 0);
}

}  // namespace
}  // namespace bcl
