// Coherency of metadata changes made through the mount (rename, link,
// chmod, chown, utimens): they change ctime (utimens mtime too) but not the
// data, so CacheSet::metadata_changed() carries the file's record over and
// the cache stays warm; a change behind the cache's back that came first is
// still detected at the next open (invariant 5).
#include <sys/stat.h>

#include <utility>

#include "cache_fixture.h"

namespace bcl::test {
namespace {

class MetadataChangeTest : public CacheTest {
protected:
    void SetUp() override {
        CacheTest::SetUp();
        format_cache(64);
        open_set();
        data_ = random_bytes(rng_, 100000);
        write_whole(path("f"), data_);
    }

    // Reads f whole through the engine (which caches it); its file id.
    std::uint64_t cache_f() {
        EngineFile f(*set_, path("f"));
        EXPECT_EQ(f.read(0, data_.size()), data_);
        set_->run_background_until_idle();
        return f.state->record.file_id;
    }

    // Opens f through the engine and reads it whole: its file id, and
    // whether the read was a hit.
    std::pair<std::uint64_t, bool> reopen_and_read(const std::string& want) {
        EngineFile f(*set_, path("f"));
        const CacheStats s0 = set_->stats();
        EXPECT_EQ(f.read(0, want.size()), want);
        const CacheStats s1 = set_->stats();
        const bool hit = s1.cache_hits == s0.cache_hits + 1 && s1.cache_misses == s0.cache_misses;
        return {f.state->record.file_id, hit};
    }

    // chmod of the backing file once the clock has moved on, so that its
    // ctime changes; the statx before and after.
    std::pair<struct statx, struct statx> chmod_f(mode_t mode) {
        BackingFile b(path("f"));
        const struct statx before = b.stx();
        EXPECT_TRUE(clock_past(before.stx_ctime));
        EXPECT_EQ(::fchmod(b.fd(), mode), 0);
        const struct statx after = b.stx();
        EXPECT_FALSE(same_time(before.stx_ctime, after.stx_ctime)) << "chmod did not change ctime";
        return {before, after};
    }

    std::string data_;
};

TEST_F(MetadataChangeTest, AChmodOfAClosedFileKeepsItsCachedDataAcrossARestart) {
    const std::uint64_t id = cache_f();
    const auto [before, after] = chmod_f(0600);
    // Without the notice the changed ctime looks like a change behind the
    // cache's back.
    auto refreshed = set_->metadata_changed(before, after);
    ASSERT_TRUE(refreshed) << refreshed.error().message;
    EXPECT_TRUE(refreshed.value());

    auto [id_after, hit] = reopen_and_read(data_);
    EXPECT_EQ(id_after, id) << "the file got a new id: its cached data was dropped";
    EXPECT_TRUE(hit);

    reopen_set();  // the refreshed record is in the index, not only in memory
    auto [id_restart, hit_restart] = reopen_and_read(data_);
    EXPECT_EQ(id_restart, id);
    EXPECT_TRUE(hit_restart);
}

TEST_F(MetadataChangeTest, UtimensOfAnOpenFileRefreshesTheSharedRecord) {
    EngineFile open(*set_, path("f"));
    ASSERT_EQ(open.read(0, data_.size()), data_);
    set_->run_background_until_idle();
    const std::uint64_t id = open.state->record.file_id;

    const struct statx before = open.backing.stx();
    ASSERT_TRUE(clock_past(before.stx_ctime));
    const struct timespec times[2] = {{1000000, 0}, {2000000, 500}};
    ASSERT_EQ(::futimens(open.backing.fd(), times), 0);
    const struct statx after = open.backing.stx();
    ASSERT_FALSE(same_time(before.stx_mtime, after.stx_mtime));
    auto refreshed = set_->metadata_changed(before, after);
    ASSERT_TRUE(refreshed) << refreshed.error().message;
    EXPECT_TRUE(refreshed.value());
    EXPECT_EQ(open.state->record.mtime_ns, std::int64_t{2000000} * 1'000'000'000 + 500);

    // A write through the engine checks coherency first: no renewal.
    open.write(10, "x");
    EXPECT_EQ(open.state->record.file_id, id);
    data_[10] = 'x';
    auto [id_after, hit] = reopen_and_read(data_);
    EXPECT_EQ(id_after, id);
    EXPECT_FALSE(hit) << "the written block was dropped and read again";
    auto [id_again, hit_again] = reopen_and_read(data_);
    EXPECT_EQ(id_again, id);
    EXPECT_TRUE(hit_again);
}

TEST_F(MetadataChangeTest, AChangeBehindTheBackBeforeAChmodIsStillDetected) {
    const std::uint64_t id = cache_f();
    // Same size, new bytes, written behind the cache's back.
    std::string changed = data_;
    for (std::size_t i = 0; i < changed.size(); i += 4096) changed[i] = static_cast<char>(~changed[i]);
    {
        BackingFile b(path("f"));
        ASSERT_TRUE(clock_past(b.stx().stx_mtime));
        ASSERT_EQ(::pwrite(b.fd(), changed.data(), changed.size(), 0), static_cast<ssize_t>(changed.size()));
    }
    // Then a chmod through the mount, whose before statx shows the change.
    const auto [before, after] = chmod_f(0640);
    auto refreshed = set_->metadata_changed(before, after);
    ASSERT_TRUE(refreshed) << refreshed.error().message;
    EXPECT_FALSE(refreshed.value());

    auto [id_after, hit] = reopen_and_read(changed);
    EXPECT_NE(id_after, id) << "the change behind the cache's back was not detected";
    EXPECT_FALSE(hit);
}

TEST_F(MetadataChangeTest, AChangeBehindTheBackOfAnOpenFileBeforeAChmodIsStillDetected) {
    EngineFile open(*set_, path("f"));
    ASSERT_EQ(open.read(0, data_.size()), data_);
    set_->run_background_until_idle();
    const std::uint64_t id = open.state->record.file_id;
    std::string changed = data_;
    changed[0] = static_cast<char>(~changed[0]);
    ASSERT_TRUE(clock_past(open.backing.stx().stx_mtime));
    ASSERT_EQ(::pwrite(open.backing.fd(), changed.data(), 1, 0), 1);

    const auto [before, after] = chmod_f(0640);
    auto refreshed = set_->metadata_changed(before, after);
    ASSERT_TRUE(refreshed);
    EXPECT_FALSE(refreshed.value());
    EXPECT_EQ(open.state->record.file_id, id);

    auto [id_after, hit] = reopen_and_read(changed);
    EXPECT_NE(id_after, id);
    EXPECT_FALSE(hit);
}

TEST_F(MetadataChangeTest, ASizeChangeBetweenBeforeAndAfterIsNeverCarriedOver) {
    const std::uint64_t id = cache_f();
    BackingFile b(path("f"));
    const struct statx before = b.stx();
    ASSERT_TRUE(clock_past(before.stx_ctime));
    // Behind the cache's back, in the window between the operation and the
    // statx after it.
    ASSERT_EQ(::pwrite(b.fd(), "tail", 4, static_cast<off_t>(data_.size())), 4);
    const struct statx after = b.stx();
    auto refreshed = set_->metadata_changed(before, after);
    ASSERT_TRUE(refreshed);
    EXPECT_FALSE(refreshed.value());
    auto [id_after, hit] = reopen_and_read(data_ + "tail");
    EXPECT_NE(id_after, id);
    EXPECT_FALSE(hit);
}

TEST_F(MetadataChangeTest, AnotherFileUnderTheSameNumberIsNeverCarriedOver) {
    const std::uint64_t id = cache_f();
    auto [before, after] = chmod_f(0600);
    after.stx_ino += 1;  // as if the name now led to another file
    auto refreshed = set_->metadata_changed(before, after);
    ASSERT_TRUE(refreshed);
    EXPECT_FALSE(refreshed.value());
    auto [id_after, hit] = reopen_and_read(data_);
    EXPECT_NE(id_after, id);
    EXPECT_FALSE(hit);
}

}  // namespace
}  // namespace bcl::test
