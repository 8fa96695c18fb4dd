// A lost index: a cache that only ever held clean data starts cold, one
// whose superblock says it may hold dirty data is refused (the data could
// no longer be found); the superblock's dirty flag follows the dirty data.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/device/file_device.h"
#include "cache_fixture.h"

namespace bcl::test {
namespace {

namespace fs = std::filesystem;

class LostIndexTest : public CacheTest {
protected:
    void SetUp() override {
        CacheTest::SetUp();
        format_cache(64);
    }
    void TearDown() override {
        file_.reset();
        CacheTest::TearDown();
    }
    // Writeback finds files by handle, which needs CAP_DAC_READ_SEARCH.
    bool writeback_possible() {
        if (::geteuid() != 0) return false;
        return open_backing_root();
    }
    CacheSetOptions wb_options() const {
        CacheSetOptions o = options();
        o.tunables.mode = CacheMode::writeback;
        o.backing_root_fd = root_fd_;
        return o;
    }
    // The flags of the superblock on the cache file now.
    std::uint32_t flags_on_disk() {
        FileDeviceOptions fo;
        fo.read_only = true;
        auto dev = FileDevice::open(cache_path_, fo);
        EXPECT_TRUE(dev) << (dev ? "" : dev.error().message);
        if (!dev) return 0;
        auto sb = read_superblock(*dev.value());
        EXPECT_TRUE(sb) << (sb ? "" : sb.error().message);
        return sb ? sb.value().flags : 0;
    }
    bool dirty_on_disk() { return (flags_on_disk() & kSbFlagDirty) != 0; }
    // Writes 64 KiB of dirty data to a new file "a"; its contents.
    std::string write_dirty() {
        const std::string data = random_bytes(rng_, 65536);
        write_whole(path("a"), std::string(65536, 'o'));
        file_ = std::make_unique<EngineFile>(*set_, path("a"));
        file_->write(0, data);
        EXPECT_EQ(set_->stats().dirty_data, data.size());
        return data;
    }
    Result<std::unique_ptr<CacheSet>> try_open(CacheSetOptions o) { return CacheSet::open(std::move(o), log_); }

    std::unique_ptr<EngineFile> file_;
};

TEST_F(LostIndexTest, TheDirtyFlagIsSetBeforeDirtyDataAndClearedByACleanCloseWithoutAny) {
    if (!writeback_possible()) GTEST_SKIP() << "writeback needs root (open_by_handle_at)";
    open_set(wb_options());
    EXPECT_FALSE(dirty_on_disk()) << "a new cache holds no dirty data";
    write_dirty();
    EXPECT_TRUE(dirty_on_disk()) << "the flag must be on the device before the dirty data is";
    ASSERT_TRUE(set_->write_back_all());
    EXPECT_TRUE(dirty_on_disk()) << "cleared only by a clean close";
    file_.reset();
    ASSERT_TRUE(set_->close());
    set_.reset();
    EXPECT_FALSE(dirty_on_disk());
}

TEST_F(LostIndexTest, ACleanCloseThatLeavesDirtyDataKeepsTheFlag) {
    if (!writeback_possible()) GTEST_SKIP() << "writeback needs root (open_by_handle_at)";
    open_set(wb_options());
    write_dirty();
    file_.reset();
    ASSERT_TRUE(set_->close());
    set_.reset();
    EXPECT_TRUE(dirty_on_disk());
    open_set(wb_options());
    EXPECT_NE(set_->stats().dirty_data, 0u);
}

TEST_F(LostIndexTest, AMissingIndexOfACacheWithDirtyDataIsRefusedAndChangesNothing) {
    if (!writeback_possible()) GTEST_SKIP() << "writeback needs root (open_by_handle_at)";
    open_set(wb_options());
    const std::string data = write_dirty();
    file_.reset();
    ASSERT_TRUE(set_->close());
    set_.reset();

    const std::string saved = index_dir_ + ".saved";
    fs::rename(index_dir_, saved);
    auto refused = try_open(wb_options());
    ASSERT_FALSE(refused) << "a cache with dirty data opened without its index";
    EXPECT_EQ(refused.error().code, Errc::corrupt);
    EXPECT_NE(refused.error().message.find("dirty data"), std::string::npos) << refused.error().message;
    EXPECT_NE(refused.error().message.find(index_dir_), std::string::npos) << refused.error().message;
    EXPECT_FALSE(fs::exists(index_dir_)) << "a refused open left an index behind";
    EXPECT_TRUE(dirty_on_disk());
    EXPECT_EQ(backing_read(path("a"), 0, 65536), std::string(65536, 'o')) << "the backing file changed";

    // With its index back, the dirty data is there.
    fs::rename(saved, index_dir_);
    open_set(wb_options());
    EngineFile a(*set_, path("a"));
    EXPECT_EQ(a.read(0, 65536), data);
}

TEST_F(LostIndexTest, AMissingIndexOfACleanCacheMeansAColdCache) {
    std::mutex m;
    std::vector<std::string> lines;
    Logger log(LogLevel::debug, [&](LogLevel, std::string_view line) {
        std::lock_guard lk(m);
        lines.emplace_back(line);
    });
    const std::string data = random_bytes(rng_, 65536);
    write_whole(path("a"), data);
    const auto said_cold = [&] {
        std::lock_guard lk(m);
        bool said = false;
        for (const auto& l : lines) said |= l.find("starts empty") != std::string::npos;
        return said;
    };
    EXPECT_EQ(flags_on_disk() & kSbFlagIndexed, 0u);
    {
        auto set = CacheSet::open(options(), log);
        ASSERT_TRUE(set) << set.error().message;
        EXPECT_FALSE(said_cold()) << "the first open of a new cache has nothing to say";
        EXPECT_NE(flags_on_disk() & kSbFlagIndexed, 0u);
        EngineFile a(*set.value(), path("a"));
        EXPECT_EQ(a.read(0, data.size()), data);
        EXPECT_EQ(set.value()->cached_bytes(a.state->identity.dev, a.state->identity.ino).value(), data.size());
    }
    EXPECT_FALSE(dirty_on_disk());
    fs::remove_all(index_dir_);
    lines.clear();

    auto set = CacheSet::open(options(), log);
    ASSERT_TRUE(set) << set.error().message;
    EXPECT_TRUE(said_cold()) << "the open did not say that the cache starts empty";
    EngineFile a(*set.value(), path("a"));
    EXPECT_EQ(set.value()->cached_bytes(a.state->identity.dev, a.state->identity.ino).value(), 0u);
    EXPECT_EQ(a.read(0, data.size()), data);
}

}  // namespace
}  // namespace bcl::test
