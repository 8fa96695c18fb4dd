// The coherency window (actimeo): within it a read of cached data asks the
// backing file for nothing, not even its descriptor; a miss asks once; a
// change behind the cache's back is never served once the window is over;
// writes through the engine keep the check current.
#include <fcntl.h>
#include <unistd.h>

#include "cache_fixture.h"
#include "counting_source.h"

namespace bcl::test {
namespace {

class CoherencyWindowTest : public CacheTest {
protected:
    void open_with_window(double seconds) {
        CacheSetOptions o = options();
        o.tunables.actimeo = seconds;
        open_set(std::move(o));
    }
    std::string read(EngineFile& f, BackingSource& source, std::uint64_t offset, std::size_t len) {
        std::string buf(len, '\0');
        auto n = set_->read(*f.state, source, offset, std::as_writable_bytes(std::span(buf.data(), buf.size())));
        EXPECT_TRUE(n) << (n ? "" : n.error().message);
        buf.resize(n ? n.value() : 0);
        return buf;
    }
    void set_actimeo(double seconds) {
        Tunables t = set_->tunables();
        t.actimeo = seconds;
        ASSERT_TRUE(set_->set_tunables(t));
    }
};

TEST_F(CoherencyWindowTest, AHitWithinTheWindowAsksTheBackingFileForNothing) {
    format_cache(96);
    open_with_window(60);
    const std::string data = random_bytes(rng_, 50000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    CountingSource fill(f.backing.fd());
    EXPECT_EQ(read(f, fill, 0, data.size()), data);
    EXPECT_GE(fill.asked, 1) << "the miss read the backing file";

    // Refused, so any use of the backing file would fail the read.
    CountingSource refused(f.backing.fd(), EACCES);
    EXPECT_EQ(read(f, refused, 0, data.size()), data);
    EXPECT_EQ(refused.asked, 0);
    EXPECT_EQ(set_->stats().cache_hits, 1u);
}

TEST_F(CoherencyWindowTest, AMissWithinTheWindowNeedsTheBackingFile) {
    format_cache(96);
    open_with_window(60);
    const std::string data = random_bytes(rng_, 65536);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, 16384), data.substr(0, 16384));

    CountingSource refused(f.backing.fd(), EACCES);
    std::string buf(16384, '\0');
    auto n = set_->read(*f.state, refused, 32768, std::as_writable_bytes(std::span(buf.data(), buf.size())));
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().to_errno(), EACCES);
    EXPECT_EQ(refused.asked, 1);

    CountingSource open(f.backing.fd());
    EXPECT_EQ(read(f, open, 32768, 16384), data.substr(32768, 16384));
    EXPECT_EQ(open.asked, 1);
}

TEST_F(CoherencyWindowTest, AChangeBehindTheBackIsNeverServedOnceTheWindowIsOver) {
    format_cache(96);
    open_with_window(60);
    std::string data = random_bytes(rng_, 50000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    const std::uint64_t id = f.state->record.file_id;

    ASSERT_TRUE(clock_past(f.backing.stx().stx_ctime));
    const int fd = ::open(path("a").c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "CHANGED", 7, 1000), 7);
    ::close(fd);
    const std::string old = data;
    data.replace(1000, 7, "CHANGED");

    // Within the window the cache answers as it was told to: with what it
    // holds, and without a look at the backing file.
    CountingSource within(f.backing.fd());
    EXPECT_EQ(read(f, within, 0, old.size()), old);
    EXPECT_EQ(within.asked, 0);

    // The window ends (here by the knob, as a knob write or the clock
    // would): the next read checks, drops the old data and reads the new.
    set_actimeo(0);
    CountingSource after(f.backing.fd());
    EXPECT_EQ(read(f, after, 0, data.size()), data);
    EXPECT_GE(after.asked, 1);
    EXPECT_NE(f.state->record.file_id, id);
    set_actimeo(60);
    EXPECT_EQ(f.read(0, data.size()), data);
    CountingSource again(f.backing.fd(), EACCES);
    EXPECT_EQ(read(f, again, 0, data.size()), data) << "the new data is cached and the check current";
    EXPECT_EQ(again.asked, 0);
}

TEST_F(CoherencyWindowTest, AWriteThroughTheEngineKeepsTheCheckCurrent) {
    format_cache(96);
    open_with_window(60);
    std::string data = random_bytes(rng_, 32768);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    f.write(4096, std::string(4096, 'w'));
    data.replace(4096, 4096, std::string(4096, 'w'));
    EXPECT_EQ(f.read(0, data.size()), data);  // the written block again from the backing file
    CountingSource refused(f.backing.fd(), EACCES);
    EXPECT_EQ(read(f, refused, 0, data.size()), data);
    EXPECT_EQ(refused.asked, 0);
}

TEST_F(CoherencyWindowTest, WithinTheWindowTheRecordedSizeIsTheEndOfFile) {
    format_cache(96);
    open_with_window(60);
    const std::string data = random_bytes(rng_, 10000);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, 16384), data);
    // Grown behind the cache's back: within the window the read ends where
    // the check found the end, and asks nothing of the backing file.
    const int fd = ::open(path("a").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "more", 4), 4);
    ::close(fd);
    CountingSource refused(f.backing.fd(), EACCES);
    EXPECT_EQ(read(f, refused, 0, 16384), data);
    EXPECT_EQ(read(f, refused, 10000, 4096), "");
    EXPECT_EQ(refused.asked, 0);
    set_actimeo(0);
    EXPECT_EQ(f.read(0, 16384), data + "more");
}

TEST_F(CoherencyWindowTest, WithoutAWindowEveryReadChecks) {
    format_cache(96);
    open_with_window(0);
    const std::string data = random_bytes(rng_, 16384);
    write_whole(path("a"), data);
    EngineFile f(*set_, path("a"));
    EXPECT_EQ(f.read(0, data.size()), data);
    CountingSource source(f.backing.fd());
    EXPECT_EQ(read(f, source, 0, data.size()), data);
    EXPECT_EQ(source.asked, 1);
    EXPECT_EQ(set_->stats().cache_hits, 1u);
}

}  // namespace
}  // namespace bcl::test
