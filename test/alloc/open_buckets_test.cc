// SectorAllocator: open bucket choice, short allocations, pin handover.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <vector>

#include "bcachefs_lite/alloc/open_buckets.h"
#include "test_support.h"

namespace bcl {
namespace {

class OpenBuckets : public ::testing::Test {
protected:
    void make(unsigned ndevices = 1, std::uint64_t nbuckets = 64) {
        std::vector<CacheDeviceConfig> devices;
        for (unsigned i = 0; i < ndevices; ++i)
            devices.push_back(CacheDeviceConfig{test::small_geometry(nbuckets), {}});
        auto r = AllocSet::create(devices, store_, exec_.executor());
        ASSERT_TRUE(r) << r.error().message;
        set_ = std::move(r).value();
        for (unsigned i = 0; i < ndevices; ++i) set_->device(i).gc_finish();
        exec_.run_until_idle();
    }
    // Allocates, letting the allocator refill when it runs dry.
    SectorAlloc alloc(SectorAllocator& sa, WriteKey key, std::uint32_t sectors, unsigned wp, bool pinned = false) {
        for (int attempt = 0; attempt < 3; ++attempt) {
            auto r = sa.alloc_sectors(key, sectors, wp, false, pinned, false);
            if (r) return r.value();
            EXPECT_EQ(r.error().code, Errc::again);
            exec_.run_until_idle();
        }
        ADD_FAILURE() << "no bucket after refills";
        return {};
    }
    std::uint64_t bucket_of(const SectorAlloc& a) const { return a.ptrs.ptr[0].bucket; }
    std::uint64_t offset_of(const SectorAlloc& a) const { return a.ptrs.ptr[0].offset; }
    std::uint16_t pin_of(std::uint64_t b, unsigned dev = 0) const { return set_->device(dev).bucket(b).pin; }

    test::FakeGenStore store_;
    test::ManualExecutor exec_;
    std::unique_ptr<AllocSet> set_;
};

TEST_F(OpenBuckets, SequentialThenSameWriterThenLeastRecentlyUsed) {
    make();
    SectorAllocator sa(*set_);
    const SectorAlloc a1 = alloc(sa, {1, 0}, 4, 1);
    const std::uint64_t b1 = bucket_of(a1);
    EXPECT_EQ(offset_of(a1), b1 * 16);
    EXPECT_EQ(a1.sectors, 4u);
    EXPECT_EQ(a1.ptrs.ptr[0].gen, set_->device(0).bucket(b1).gen);

    const SectorAlloc a2 = alloc(sa, {2, 100}, 4, 2);
    const std::uint64_t b2 = bucket_of(a2);
    EXPECT_NE(b2, b1);

    // Sequential with a1, from another writer: same bucket, right after it.
    const SectorAlloc a3 = alloc(sa, {1, 4}, 4, 3);
    EXPECT_EQ(bucket_of(a3), b1);
    EXPECT_EQ(offset_of(a3), b1 * 16 + 4);

    // Not sequential with anything, same writer as a2.
    const SectorAlloc a4 = alloc(sa, {3, 50}, 2, 2);
    EXPECT_EQ(bucket_of(a4), b2);
    EXPECT_EQ(offset_of(a4), b2 * 16 + 4);

    // A new writer and file: the least recently used open bucket (empty).
    const SectorAlloc a5 = alloc(sa, {4, 0}, 2, 9);
    EXPECT_NE(bucket_of(a5), b1);
    EXPECT_NE(bucket_of(a5), b2);

    // Pins: the open bucket's own plus one per allocation.
    EXPECT_EQ(pin_of(b1), 3);
    sa.put(a1);
    sa.put(a3);
    EXPECT_EQ(pin_of(b1), 1);
    EXPECT_EQ(set_->device(0).sectors_written(), 16u);
}

TEST_F(OpenBuckets, PinnedDataNeverSharesABucketWithReclaimableData) {
    make();
    SectorAllocator sa(*set_);
    const SectorAlloc a1 = alloc(sa, {1, 0}, 4, 1, false);
    // Sequential with a1 and same writer, but pinned: elsewhere.
    const SectorAlloc p1 = alloc(sa, {1, 4}, 4, 1, true);
    EXPECT_NE(bucket_of(p1), bucket_of(a1));
    // Same writer again, pinned: with p1, not a1.
    const SectorAlloc p2 = alloc(sa, {5, 0}, 4, 1, true);
    EXPECT_EQ(bucket_of(p2), bucket_of(p1));
    // Same writer, reclaimable: back with a1, past p1's bucket.
    const SectorAlloc a2 = alloc(sa, {6, 0}, 4, 1, false);
    EXPECT_EQ(bucket_of(a2), bucket_of(a1));
    for (const auto& ob : sa.open_buckets()) {
        if (ob.sectors_free == 0) continue;
        if (ob.ptrs.ptr[0].bucket == bucket_of(p1)) {
            EXPECT_TRUE(ob.pinned);
        }
        if (ob.ptrs.ptr[0].bucket == bucket_of(a1)) {
            EXPECT_FALSE(ob.pinned);
        }
    }
}

TEST_F(OpenBuckets, ShortAllocationWhenNearlyFullAndPinHandover) {
    make();
    SectorAllocator sa(*set_);
    const SectorAlloc a1 = alloc(sa, {1, 0}, 10, 1);
    const std::uint64_t b = bucket_of(a1);
    EXPECT_EQ(pin_of(b), 2);  // open bucket + a1
    const SectorAlloc a2 = alloc(sa, {1, 10}, 10, 1);
    EXPECT_EQ(bucket_of(a2), b);
    EXPECT_EQ(a2.sectors, 6u);  // what was left
    EXPECT_EQ(offset_of(a2), b * 16 + 10);
    // The bucket is full: closed, its pin handed to a2.
    EXPECT_EQ(pin_of(b), 2);  // a1 + a2
    sa.put(a1);
    sa.put(a2);
    EXPECT_EQ(pin_of(b), 0);
    // The rest of the write goes on in a fresh bucket.
    const SectorAlloc a3 = alloc(sa, {1, 16}, 4, 1);
    EXPECT_NE(bucket_of(a3), b);
    EXPECT_EQ(offset_of(a3), bucket_of(a3) * 16);
}

TEST_F(OpenBuckets, LessThanABlockLeftClosesTheBucket) {
    make();
    SectorAllocator sa(*set_);
    const SectorAlloc a1 = alloc(sa, {1, 0}, 15, 1);
    EXPECT_EQ(a1.sectors, 15u);
    const std::uint64_t b = bucket_of(a1);
    EXPECT_EQ(pin_of(b), 1);  // only a1's: 1 sector < 1 block closed it
    const SectorAlloc a2 = alloc(sa, {1, 15}, 1, 1);
    EXPECT_NE(bucket_of(a2), b);
    sa.put(a1);
    EXPECT_EQ(pin_of(b), 0);
}

TEST_F(OpenBuckets, WritePrioTakesTheMovingGcReserve) {
    make();
    std::vector<std::uint64_t> taken;
    while (auto r = set_->device(0).bucket_alloc(Reserve::none, false)) taken.push_back(r.value());
    ASSERT_EQ(taken.size(), 4u);
    const auto reserve = set_->device(0).freelist(Reserve::movinggc);
    SectorAllocator sa(*set_);
    EXPECT_EQ(sa.alloc_sectors({1, 0}, 4, 1, false, false, false).error().code, Errc::again);
    auto r = sa.alloc_sectors({1, 0}, 4, 1, true, false, false);
    ASSERT_TRUE(r);
    EXPECT_EQ(bucket_of(r.value()), reserve.front());
}

TEST_F(OpenBuckets, ReplicasGetOneBucketPerDevice) {
    make(2);
    SectorAllocator sa(*set_, 2);
    const SectorAlloc a = alloc(sa, {1, 0}, 4, 1);
    ASSERT_EQ(a.ptrs.nptrs, 2u);
    EXPECT_EQ(a.ptrs.ptr[0].dev, 0u);
    EXPECT_EQ(a.ptrs.ptr[1].dev, 1u);
    for (const AllocPtr& p : a.ptrs) {
        EXPECT_EQ(p.offset, p.bucket * 16);
        EXPECT_EQ(pin_of(p.bucket, p.dev), 2);
    }
    const SectorAlloc b = alloc(sa, {1, 4}, 4, 1);
    for (unsigned i = 0; i < 2; ++i) EXPECT_EQ(b.ptrs.ptr[i].offset, a.ptrs.ptr[i].offset + 4);
    sa.put(a);
    sa.put(b);
    sa.close_all();
    for (const AllocPtr& p : a.ptrs) EXPECT_EQ(pin_of(p.bucket, p.dev), 0);
}

TEST_F(OpenBuckets, AllOpenBucketsOfTheOtherClassCloseTheOldest) {
    make(1, 1024);
    SectorAllocator sa(*set_);
    std::vector<SectorAlloc> allocs;
    for (unsigned i = 0; i < kMaxOpenBuckets; ++i) {
        allocs.push_back(alloc(sa, {100 + i, 0}, 2, 1000 + i));
        sa.put(allocs.back());
    }
    std::set<std::uint64_t> distinct;
    for (const auto& a : allocs) distinct.insert(bucket_of(a));
    ASSERT_EQ(distinct.size(), kMaxOpenBuckets);
    const std::uint64_t oldest = bucket_of(allocs.front());
    EXPECT_EQ(pin_of(oldest), 1);
    const SectorAlloc p = alloc(sa, {7, 0}, 2, 7, true);
    EXPECT_EQ(distinct.count(bucket_of(p)), 0u);
    EXPECT_EQ(pin_of(oldest), 0);  // closed
    EXPECT_EQ(pin_of(bucket_of(allocs[1])), 1);
}

TEST_F(OpenBuckets, ClosingDropsEveryPinAndZeroSectorsIsRefused) {
    make();
    std::vector<std::uint64_t> buckets;
    {
        SectorAllocator sa(*set_);
        EXPECT_EQ(sa.alloc_sectors({1, 0}, 0, 1, false, false, false).error().code, Errc::invalid);
        for (unsigned i = 0; i < 3; ++i) {
            const SectorAlloc a = alloc(sa, {i, 0}, 2, i);
            buckets.push_back(bucket_of(a));
            sa.put(a);
        }
        for (auto b : buckets) EXPECT_EQ(pin_of(b), 1);
    }
    for (auto b : buckets) EXPECT_EQ(pin_of(b), 0);
}

}  // namespace
}  // namespace bcl
