// Reads while the backing directory does not answer (cache/backing_link.h):
// a range the cache holds whole is served from it, anything else fails with
// the backing's error; the link's state shows in backing_offline and in one
// log line per change.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "cache_fixture.h"
#include "counting_source.h"
#include "log_lines.h"

namespace bcl::test {
namespace {

class OfflineReadTest : public CacheTest {
protected:
    // A set that logs into lines_, with the coherency window `actimeo`.
    void open_logged(double actimeo = 0) {
        CacheSetOptions o = options();
        o.tunables.actimeo = actimeo;
        auto set = CacheSet::open(std::move(o), logged_);
        ASSERT_TRUE(set) << set.error().message;
        set_ = std::move(set).value();
    }
    // A file of `size` random bytes, read whole through the engine so that
    // the cache holds all of it.
    std::string cached_file(const std::string& name, std::size_t size) {
        const std::string data = random_bytes(rng_, size);
        write_whole(path(name), data);
        EngineFile f(*set_, path(name));
        EXPECT_EQ(f.read_chunked(0, size), data);
        EXPECT_EQ(cached(f), size);
        return data;
    }
    std::uint64_t cached(EngineFile& f) {
        auto n = set_->cached_bytes(f.state->identity.dev, f.state->identity.ino);
        EXPECT_TRUE(n) << (n ? "" : n.error().message);
        return n ? n.value() : 0;
    }
    Result<std::string> read(CachedFile& file, BackingSource& source, std::uint64_t offset, std::size_t len) {
        std::string buf(len, '\0');
        auto n = set_->read(file, source, offset, std::as_writable_bytes(std::span(buf.data(), buf.size())));
        if (!n) return n.error();
        buf.resize(n.value());
        return buf;
    }
    void expect_fails_with(CachedFile& file, BackingSource& source, std::uint64_t offset, std::size_t len, int err) {
        auto r = read(file, source, offset, len);
        ASSERT_FALSE(r) << "served " << r.value().size() << " bytes";
        EXPECT_EQ(r.error().to_errno(), err) << r.error().message;
    }

    LogLines lines_;
    Logger logged_{LogLevel::info, lines_.sink()};
};

// The errors of a backing directory that stopped answering.
class OfflineErrnoTest : public OfflineReadTest, public testing::WithParamInterface<int> {};

TEST_P(OfflineErrnoTest, AFullyCachedFileIsServedFromTheCache) {
    format_cache(96);
    open_logged();
    const std::string data = cached_file("a", 50000);
    EngineFile f(*set_, path("a"));
    const CacheStats before = set_->stats();
    EXPECT_EQ(before.backing_offline, 0u);

    CountingSource gone(f.backing.fd(), GetParam());
    auto r = read(*f.state, gone, 0, data.size());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), data);
    EXPECT_GE(gone.asked, 1) << "the check was tried";
    // Past the size the record knows: end of file.
    r = read(*f.state, gone, 40000, 20000);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), data.substr(40000));

    const CacheStats after = set_->stats();
    EXPECT_EQ(after.offline_reads, 2u);
    EXPECT_EQ(after.backing_offline, 1u);
    EXPECT_EQ(after.cache_hits, before.cache_hits + 2);
    EXPECT_EQ(after.bytes_read_cache, before.bytes_read_cache + data.size() + 10000);
    EXPECT_EQ(after.bytes_read_backing, before.bytes_read_backing);
    EXPECT_TRUE(set_->backing_link().down());
    EXPECT_EQ(lines_.count(LogLevel::warn, kDownLine), 1u) << "one line for the change, none per read";
}

INSTANTIATE_TEST_SUITE_P(Unreachable, OfflineErrnoTest, testing::Values(ENOTCONN, EIO),
                         [](const testing::TestParamInfo<int>& p) { return p.param == EIO ? "EIO" : "ENOTCONN"; });

TEST_F(OfflineReadTest, AnErrorOfOneFileIsNotOffline) {
    format_cache(96);
    open_logged();
    const std::string data = cached_file("a", 50000);
    EngineFile f(*set_, path("a"));
    CountingSource missing(f.backing.fd(), ENOENT);
    expect_fails_with(*f.state, missing, 0, data.size(), ENOENT);
    EXPECT_FALSE(set_->backing_link().down());
    EXPECT_EQ(set_->stats().backing_offline, 0u);
    EXPECT_EQ(set_->stats().offline_reads, 0u);
    EXPECT_EQ(lines_.count(LogLevel::warn, kDownLine), 0u);
}

TEST_F(OfflineReadTest, ARangeWithAHoleFailsWithTheBackingsErrorAndInsertsNothing) {
    format_cache(96);
    open_logged();
    const std::string data = random_bytes(rng_, 196608);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, 65536), data.substr(0, 65536));
    EXPECT_EQ(f.read(131072, 65536), data.substr(131072));
    const std::uint64_t held = cached(f);
    ASSERT_EQ(held, 131072u);

    CountingSource gone(f.backing.fd(), ENOTCONN);
    expect_fails_with(*f.state, gone, 0, data.size(), ENOTCONN);
    expect_fails_with(*f.state, gone, 60000, 10000, ENOTCONN);
    EXPECT_EQ(cached(f), held);
    EXPECT_EQ(set_->stats().offline_reads, 0u);
    EXPECT_EQ(set_->stats().backing_offline, 1u);
    // Each part held whole is still served.
    auto r = read(*f.state, gone, 131072, 65536);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), data.substr(131072));
    EXPECT_EQ(set_->stats().offline_reads, 1u);
}

TEST_F(OfflineReadTest, ABypassedFileFails) {
    format_cache(96);
    open_logged();
    const std::string data = cached_file("a", 50000);
    EngineFile f(*set_, path("a"));
    {
        std::lock_guard lk(f.state->mutex);
        f.state->bypass = true;
    }
    CountingSource gone(f.backing.fd(), ENOTCONN);
    expect_fails_with(*f.state, gone, 0, data.size(), ENOTCONN);
    EXPECT_EQ(set_->stats().offline_reads, 0u);
}

TEST_F(OfflineReadTest, ASuccessfulCheckBringsTheLinkBack) {
    format_cache(96);
    open_logged();
    const std::string data = cached_file("a", 50000);
    EngineFile f(*set_, path("a"));
    CountingSource gone(f.backing.fd(), ENOTCONN);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(read(*f.state, gone, 0, 4096));
    EXPECT_EQ(set_->stats().backing_offline, 1u);

    EXPECT_EQ(f.read(0, data.size()), data);
    EXPECT_FALSE(set_->backing_link().down());
    EXPECT_EQ(set_->stats().backing_offline, 0u);
    EXPECT_EQ(set_->stats().offline_reads, 3u);
    EXPECT_EQ(lines_.count(LogLevel::warn, kDownLine), 1u);
    EXPECT_EQ(lines_.count(LogLevel::info, kUpLine), 1u);
    f.read(0, 100);
    EXPECT_EQ(lines_.count(LogLevel::info, kUpLine), 1u) << "nothing while it stays up";
}

TEST_F(OfflineReadTest, AMissThatMeetsAGoneBackingTakesTheLinkDown) {
    format_cache(96);
    open_logged(60);  // the window trusts the record: only the miss asks the backing
    const std::string data = random_bytes(rng_, 131072);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, 65536), data.substr(0, 65536));

    CountingSource gone(f.backing.fd(), ENOTCONN);
    expect_fails_with(*f.state, gone, 65536, 65536, ENOTCONN);
    EXPECT_TRUE(set_->backing_link().down());
    EXPECT_EQ(lines_.count(LogLevel::warn, kDownLine), 1u);
}

TEST_F(OfflineReadTest, AnOfflineOpenNeedsTheLinkDownAndAnUnchangedRecord) {
    format_cache(96);
    open_logged(60);
    const std::string data = cached_file("a", 50000);
    const struct statx stx = stat_path(path("a"));

    auto up = set_->open_offline_file(stx);
    ASSERT_TRUE(up) << up.error().message;
    EXPECT_FALSE(up.value()) << "the backing answers: the open is its to answer";

    set_->backing_link().failed(sys_error(ENOTCONN, "open of the backing file"));
    struct statx grown = stx;
    grown.stx_size += 1;
    struct statx touched = stx;
    touched.stx_mtime.tv_sec -= 10;
    for (const struct statx& other : {grown, touched}) {
        auto changed = set_->open_offline_file(other);
        ASSERT_TRUE(changed) << changed.error().message;
        EXPECT_FALSE(changed.value()) << "the record no longer matches";
    }

    auto down = set_->open_offline_file(stx);
    ASSERT_TRUE(down) << down.error().message;
    ASSERT_TRUE(down.value());
    const std::shared_ptr<CachedFile> file = std::move(down).value();
    // Not marked checked: even within the window a read asks the backing
    // file first, and serves the cache only because that fails.
    CountingSource gone(-1, ENOTCONN);
    auto r = read(*file, gone, 0, data.size());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), data);
    EXPECT_EQ(gone.asked, 1);
    EXPECT_EQ(set_->stats().offline_reads, 1u);
    set_->release_file(file);
}

// A backing that hangs (a call in flight past backing_timeout): the cache
// serves what it holds whole without a call, and the rest fails at once.
TEST_F(OfflineReadTest, WhileACallHangsReadsMakeNoCall) {
    format_cache(96);
    open_logged();
    const std::string data = cached_file("a", 50000);
    const std::string other = random_bytes(rng_, 131072);
    write_whole(path("b"), other);
    EngineFile a(*set_, path("a"));
    EngineFile b(*set_, path("b"));
    EXPECT_EQ(b.read(0, 65536), other.substr(0, 65536));

    BackingLink& link = set_->backing_link();
    EXPECT_EQ(link.timeout(), Tunables{}.backing_timeout);
    const std::int64_t t0 = CoherencyWindow::now_ns();
    std::optional<BackingLink::Call> hung(link.begin_call(t0));
    link.check(t0 + static_cast<std::int64_t>(link.timeout() * 1e9) + 1'000'000'000);
    ASSERT_TRUE(link.down());
    EXPECT_EQ(lines_.count(LogLevel::warn, "a call has waited"), 1u);

    CountingSource source_a(a.backing.fd());
    auto r = read(*a.state, source_a, 0, data.size());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), data);
    EXPECT_EQ(source_a.asked, 0) << "no coherency check while a call hangs";
    EXPECT_EQ(set_->stats().offline_reads, 1u);

    CountingSource source_b(b.backing.fd());
    const std::uint64_t held = cached(b);
    expect_fails_with(*b.state, source_b, 65536, 65536, ETIMEDOUT);
    expect_fails_with(*b.state, source_b, 0, other.size(), ETIMEDOUT);
    EXPECT_EQ(source_b.asked, 0);
    EXPECT_EQ(cached(b), held) << "nothing inserted";

    // The hung call returns; the next read is the probe, and brings it up.
    hung.reset();
    r = read(*b.state, source_b, 65536, 65536);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), other.substr(65536));
    EXPECT_GE(source_b.asked, 1);
    EXPECT_FALSE(link.down());
    EXPECT_EQ(set_->stats().backing_offline, 0u);
}

}  // namespace
}  // namespace bcl::test
