// Bucket gens and prios: the allocator's synced prio_write and its load.
#include <gtest/gtest.h>

#include <vector>

#include "common/temp_dir.h"
#include "test_index.h"

namespace bcl {
namespace {

using test::open_test_index;
using test::TempDir;

TEST(IndexBuckets, PutLoadRoundTripAcrossReopenPerDevice) {
    TempDir tmp;
    std::vector<BucketGenRecord> dev0, dev1;
    for (std::uint64_t b = 0; b < 3000; ++b)
        dev0.push_back({b, static_cast<std::uint8_t>(b * 7), static_cast<std::uint16_t>(b * 31)});
    for (std::uint64_t b = 0; b < 10; ++b) dev1.push_back({b * 1000, 1, 32768});
    {
        auto idx = open_test_index(tmp.path());
        ASSERT_TRUE(idx);
        ASSERT_TRUE(idx->put_bucket_gens(0, dev0));
        ASSERT_TRUE(idx->put_bucket_gens(1, dev1));
        // A later write of some buckets replaces just those.
        std::vector<BucketGenRecord> bumped{{5, 99, 1}, {2999, 0, 65535}};
        ASSERT_TRUE(idx->put_bucket_gens(0, bumped));
        dev0[5] = bumped[0];
        dev0[2999] = bumped[1];
    }
    auto idx = open_test_index(tmp.path());
    ASSERT_TRUE(idx);
    auto got0 = idx->load_bucket_gens(0);
    ASSERT_TRUE(got0) << got0.error().message;
    EXPECT_EQ(got0.value(), dev0);
    auto got1 = idx->load_bucket_gens(1);
    ASSERT_TRUE(got1);
    EXPECT_EQ(got1.value(), dev1);
    auto got2 = idx->load_bucket_gens(2);
    ASSERT_TRUE(got2);
    EXPECT_TRUE(got2.value().empty());
}

TEST(IndexBuckets, GensGoInTheSameBatchAsOtherUpdates) {
    TempDir tmp;
    auto idx = open_test_index(tmp.path());
    ASSERT_TRUE(idx);
    IndexBatch batch;
    const std::vector<BucketGenRecord> gens{{4, 2, 3}};
    batch.put_bucket_gens(7, gens);
    batch.put_counter("gc_gen", 12);
    auto r = idx->commit(batch, true);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(batch.empty());
    EXPECT_EQ(idx->load_bucket_gens(7).value(), gens);
    EXPECT_EQ(idx->get_counter("gc_gen").value(), 12u);
}

}  // namespace
}  // namespace bcl
