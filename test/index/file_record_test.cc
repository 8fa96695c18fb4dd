// File records and file ids.
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "test_index.h"

namespace bcl {
namespace {

using test::open_test_index;
using test::TempDir;

FileRecord record(std::uint64_t id, std::uint64_t size) {
    FileRecord r;
    r.file_id = id;
    r.size = size;
    r.mtime_ns = 1000 + static_cast<std::int64_t>(size);
    r.ctime_ns = 2000;
    r.flags = kFilePinned;
    r.generation = 3;
    return r;
}

TEST(IndexFiles, PutGetDeleteRoundTripAcrossReopen) {
    TempDir tmp;
    const FileIdentity id{0x801, 123456, 1700000000000000000};
    {
        auto idx = open_test_index(tmp.path());
        ASSERT_TRUE(idx);
        auto none = idx->get_file(id);
        ASSERT_TRUE(none);
        EXPECT_FALSE(none.value());
        ASSERT_TRUE(idx->put_file(id, record(5, 4096), true));
    }
    auto idx = open_test_index(tmp.path());
    ASSERT_TRUE(idx);
    auto got = idx->get_file(id);
    ASSERT_TRUE(got) << got.error().message;
    ASSERT_TRUE(got.value());
    FileRecord want = record(5, 4096);
    want.btime_ns = id.btime_ns;  // the record takes the identity's btime
    EXPECT_EQ(*got.value(), want);
    EXPECT_TRUE(got.value()->matches(id, 4096, want.mtime_ns, want.ctime_ns));

    ASSERT_TRUE(idx->delete_file(id));
    auto gone = idx->get_file(id);
    ASSERT_TRUE(gone);
    EXPECT_FALSE(gone.value());
}

TEST(IndexFiles, ReusedInodeWithOtherBirthTimeIsSeenAsChanged) {
    TempDir tmp;
    auto idx = open_test_index(tmp.path());
    ASSERT_TRUE(idx);
    const FileIdentity old_file{1, 99, 111};
    const FileIdentity new_file{1, 99, 222};  // same dev/ino, born later
    ASSERT_TRUE(idx->put_file(old_file, record(1, 10)));
    // Lookup by (dev, ino) finds the old record; its btime tells them apart.
    auto got = idx->get_file(new_file);
    ASSERT_TRUE(got);
    ASSERT_TRUE(got.value());
    EXPECT_EQ(got.value()->btime_ns, 111);
    EXPECT_FALSE(got.value()->matches(new_file, 10, record(1, 10).mtime_ns, 2000));
    EXPECT_TRUE(got.value()->matches(old_file, 10, record(1, 10).mtime_ns, 2000));
    // The caller then replaces it with a record under a new id.
    ASSERT_TRUE(idx->put_file(new_file, record(2, 10)));
    got = idx->get_file(old_file);
    ASSERT_TRUE(got);
    ASSERT_TRUE(got.value());
    EXPECT_EQ(got.value()->file_id, 2u);
    EXPECT_EQ(got.value()->btime_ns, 222);
    // Other inodes are other records.
    auto other = idx->get_file(FileIdentity{1, 100, 111});
    ASSERT_TRUE(other);
    EXPECT_FALSE(other.value());
}

TEST(IndexFiles, FileIdZeroIsRejected) {
    TempDir tmp;
    auto idx = open_test_index(tmp.path());
    ASSERT_TRUE(idx);
    auto st = idx->put_file(FileIdentity{1, 2, 0}, record(0, 1));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::invalid);
}

TEST(IndexFiles, NewFileIdNeverRepeatsAcrossReopen) {
    TempDir tmp;
    std::set<std::uint64_t> seen;
    for (int round = 0; round < 4; ++round) {
        auto idx = open_test_index(tmp.path());
        ASSERT_TRUE(idx);
        // Past a block boundary in some rounds, not in others.
        const int n = round % 2 == 0 ? 3 : static_cast<int>(Index::kFileIdBlock) + 5;
        for (int i = 0; i < n; ++i) {
            auto id = idx->new_file_id();
            ASSERT_TRUE(id) << id.error().message;
            EXPECT_NE(id.value(), 0u);
            EXPECT_TRUE(seen.insert(id.value()).second) << "repeated id " << id.value();
        }
    }
}

TEST(IndexFiles, NewFileIdIsUniqueAcrossThreads) {
    TempDir tmp;
    auto idx = open_test_index(tmp.path());
    ASSERT_TRUE(idx);
    constexpr int kThreads = 4;
    constexpr int kEach = 700;
    std::vector<std::vector<std::uint64_t>> got(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                auto id = idx->new_file_id();
                if (id) got[t].push_back(id.value());
            }
        });
    for (auto& t : threads) t.join();
    std::set<std::uint64_t> all;
    for (const auto& v : got) {
        EXPECT_EQ(v.size(), static_cast<std::size_t>(kEach));
        all.insert(v.begin(), v.end());
    }
    EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace bcl
