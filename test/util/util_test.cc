#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/buffer_pool.h"
#include "bcachefs_lite/util/crc32c.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/fifo.h"
#include "bcachefs_lite/util/heap.h"
#include "bcachefs_lite/util/log.h"
#include "bcachefs_lite/util/size.h"
#include "bcachefs_lite/util/uuid.h"

namespace bcl {
namespace {

TEST(Fifo, PushPopInOrderAndWraps) {
    Fifo<int> f(3);
    for (int round = 0; round < 5; ++round) {
        EXPECT_TRUE(f.push(1));
        EXPECT_TRUE(f.push(2));
        EXPECT_TRUE(f.push(3));
        EXPECT_TRUE(f.full());
        EXPECT_FALSE(f.push(4));
        EXPECT_EQ(f.pop(), 1);
        EXPECT_EQ(f.pop(), 2);
        EXPECT_TRUE(f.push_front(7));
        EXPECT_EQ(f.pop(), 7);
        EXPECT_EQ(f.pop(), 3);
        EXPECT_TRUE(f.empty());
        EXPECT_EQ(f.pop(), std::nullopt);
    }
}

TEST(Fifo, ContainsAndAt) {
    Fifo<int> f(4);
    ASSERT_TRUE(f.push(5));
    ASSERT_TRUE(f.push(6));
    EXPECT_TRUE(f.contains(6));
    EXPECT_FALSE(f.contains(7));
    EXPECT_EQ(f.at(1), 6);
}

TEST(BoundedHeap, KeepsSmallestAndPopsInOrder) {
    // The LRU pattern: keep the 4 smallest of many in a max-heap, then pop
    // them smallest first after rebuilding as a min-heap.
    auto max_cmp = [](int a, int b) { return a < b; };
    auto min_cmp = [](int a, int b) { return a > b; };
    BoundedHeap<int> h(4);
    for (int v : {9, 3, 7, 1, 8, 2, 6, 5, 4}) {
        if (!h.full())
            ASSERT_TRUE(h.add(v, max_cmp));
        else if (max_cmp(v, h.top()))
            h.replace_top(v, max_cmp);
    }
    h.rebuild(min_cmp);
    EXPECT_EQ(h.pop(min_cmp), 1);
    EXPECT_EQ(h.pop(min_cmp), 2);
    EXPECT_EQ(h.pop(min_cmp), 3);
    EXPECT_EQ(h.pop(min_cmp), 4);
    EXPECT_EQ(h.pop(min_cmp), std::nullopt);
}

TEST(Crc32c, KnownVectorAndChaining) {
    const char* s = "123456789";
    EXPECT_EQ(crc32c(0, s, 9), 0xe3069283u);
    EXPECT_EQ(crc32c(crc32c(0, s, 4), s + 4, 5), 0xe3069283u);
    EXPECT_EQ(crc32c(0, s, 0), 0u);
}

TEST(AlignedBuffer, IsAlignedZeroedAndMovable) {
    AlignedBuffer b(8192);
    EXPECT_TRUE(is_aligned(b.data(), 4096));
    EXPECT_EQ(b.span()[8191], std::byte{0});
    AlignedBuffer c = std::move(b);
    EXPECT_EQ(c.size(), 8192u);
    EXPECT_EQ(b.data(), nullptr);
}

TEST(BufferPool, ReusesAGivenBackBufferAndKeepsAtMostMaxIdle) {
    BufferPool pool(64 << 10, 2);
    const std::byte* first = nullptr;
    {
        BufferLease a = pool.take(4096);
        EXPECT_EQ(a.size(), 4096u);
        EXPECT_TRUE(is_aligned(a.data(), 4096));
        first = a.data();
        BufferLease moved = std::move(a);  // the move gives nothing back
        EXPECT_EQ(a.data(), nullptr);
        EXPECT_EQ(pool.idle(), 0u);
    }
    EXPECT_EQ(pool.idle(), 1u);
    {
        BufferLease again = pool.take(64 << 10);  // the whole capacity
        EXPECT_EQ(again.data(), first);
        EXPECT_EQ(pool.idle(), 0u);
    }
    {
        BufferLease x = pool.take(1), y = pool.take(1), z = pool.take(1);
        EXPECT_EQ(pool.idle(), 0u);
    }
    EXPECT_EQ(pool.idle(), 2u);  // the third was freed
}

TEST(BufferPool, AnOversizedRequestGetsABufferOfItsOwn) {
    BufferPool pool(4096, 4);
    {
        BufferLease big = pool.take(3 * 4096);
        EXPECT_EQ(big.size(), 3u * 4096);
        EXPECT_TRUE(is_aligned(big.data(), 4096));
        big.span()[3 * 4096 - 1] = std::byte{1};  // all of it is there
    }
    EXPECT_EQ(pool.idle(), 0u);
    BufferLease lone(AlignedBuffer(8192), 100);  // one of no pool
    EXPECT_EQ(lone.size(), 100u);
    lone = pool.take(10);
    lone = BufferLease();  // assignment ends the lease it replaces
    EXPECT_EQ(pool.idle(), 1u);
}

TEST(Size, ParsesSuffixes) {
    EXPECT_EQ(parse_size("4096").value(), 4096u);
    EXPECT_EQ(parse_size("512k").value(), 512u << 10);
    EXPECT_EQ(parse_size("8M").value(), 8u << 20);
    EXPECT_EQ(parse_size("8MiB").value(), 8u << 20);
    EXPECT_EQ(parse_size("1G").value(), 1ull << 30);
    EXPECT_EQ(parse_size("2T").value(), 2ull << 40);
    EXPECT_EQ(parse_size("100B").value(), 100u);
}

TEST(Size, RejectsGarbageWithClearMessage) {
    for (const char* bad : {"", "k", "-1", "12x", "1.5M", "99999999999999999999", "20000000T", "8MM"}) {
        auto r = parse_size(bad, "bucket size");
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, Errc::invalid);
        EXPECT_NE(r.error().message.find("bucket size"), std::string::npos);
    }
}

TEST(Size, Formats) {
    EXPECT_EQ(format_size(524288), "512KiB");
    EXPECT_EQ(format_size(1000), "1000B");
    EXPECT_EQ(format_size(3ull << 30), "3GiB");
    EXPECT_EQ(format_size_approx(1536), "1.5KiB");
}

TEST(Uuid, RoundTripsAndRejects) {
    Uuid u = random_uuid();
    EXPECT_FALSE(uuid_is_nil(u));
    std::string s = uuid_to_string(u);
    EXPECT_EQ(s.size(), 36u);
    EXPECT_EQ(parse_uuid(s).value(), u);
    EXPECT_FALSE(parse_uuid("not-a-uuid"));
    EXPECT_NE(random_uuid(), u);
}

TEST(Error, MapsToErrno) {
    EXPECT_EQ(make_error(Errc::no_space, "x").to_errno(), ENOSPC);
    EXPECT_EQ(make_error(Errc::corrupt, "x").to_errno(), EUCLEAN);
    Error e = sys_error(EACCES, "open /x");
    EXPECT_EQ(e.to_errno(), EACCES);
    EXPECT_EQ(e.code, Errc::permission);
    EXPECT_EQ(e.message, std::string("open /x: ") + std::strerror(EACCES));
}

Status fails() { return make_error(Errc::busy, "busy"); }
Result<int> tries() {
    BCL_TRY(fails());
    return 1;
}

TEST(Error, TryPropagates) {
    auto r = tries();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::busy);
}

TEST(Logger, FiltersByLevelAndFormats) {
    std::string got;
    Logger log(LogLevel::warn, [&](LogLevel, std::string_view line) { got += std::string(line) + ";"; });
    log.info("hidden {}", 1);
    log.warn("shown {}", 2);
    log.set_level(LogLevel::debug);
    log.debug("now {}", 3);
    EXPECT_EQ(got, "shown 2;now 3;");
}

}  // namespace
}  // namespace bcl
