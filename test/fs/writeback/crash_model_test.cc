// Unit tests of the crash loop's own machinery, without a mount: the event
// stream survives the pipe (and a message cut short by a killed writer is
// dropped), and the model accepts exactly what a crash may leave and
// rejects what it must never leave: lost fsync'ed bytes, unlinked or
// truncated-away data coming back, bytes from anywhere else.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "crash_event.h"
#include "crash_model.h"

namespace bcl::test {
namespace {

constexpr std::uint16_t kA = 0;
constexpr std::uint16_t kB = 1;

// A model in which `name` durably holds `content`.
void make_synced(CrashModel& model, std::uint16_t name, const std::string& content) {
    ASSERT_EQ(model.apply(name_event(EventKind::create, name)), "");
    ASSERT_EQ(model.apply(write_event(name, 0, content)), "");
    ASSERT_EQ(model.apply(name_event(EventKind::synced, name)), "");
}

TEST(CrashEventStream, EventsArriveWholeAndACutMessageIsDropped) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    Event sent = write_event(7, 123456789, std::string(10000, 'x'));
    sent.b = 9;
    ASSERT_TRUE(send_event(fds[1], sent));
    ASSERT_TRUE(send_event(fds[1], progress_event(EventKind::step_done)));
    std::string cut = encode_event(write_event(1, 0, "abcdef"));
    ASSERT_EQ(::write(fds[1], cut.data(), cut.size() - 2), static_cast<ssize_t>(cut.size() - 2));
    ::close(fds[1]);

    EventReader reader(fds[0]);
    Event got;
    ASSERT_EQ(reader.next(got, std::chrono::seconds(5)), EventReader::Status::event);
    EXPECT_EQ(got.kind, EventKind::write);
    EXPECT_EQ(got.a, 7);
    EXPECT_EQ(got.b, 9);
    EXPECT_EQ(got.arg, 123456789u);
    EXPECT_EQ(got.data, sent.data);
    ASSERT_EQ(reader.next(got, std::chrono::seconds(5)), EventReader::Status::event);
    EXPECT_EQ(got.kind, EventKind::step_done);
    EXPECT_EQ(reader.next(got, std::chrono::seconds(5)), EventReader::Status::eof);
    EXPECT_EQ(reader.unfinished_bytes(), cut.size() - 2);
    ::close(fds[0]);
}

TEST(CrashEventStream, SilenceTimesOutAndGarbageIsCorrupt) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    EventReader reader(fds[0]);
    Event got;
    EXPECT_EQ(reader.next(got, std::chrono::milliseconds(1)), EventReader::Status::timeout);
    std::string garbage(32, '\xff');
    ASSERT_EQ(::write(fds[1], garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
    EXPECT_EQ(reader.next(got, std::chrono::seconds(5)), EventReader::Status::corrupt);
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(CrashModel, AnAcknowledgedFileMustHoldExactlyItsBytes) {
    CrashModel model(2);
    ASSERT_NO_FATAL_FAILURE(make_synced(model, kA, "hello world"));
    EXPECT_EQ(model.check(kA, std::string("hello world")), "");
    EXPECT_NE(model.check(kA, std::string("hello worle")), "") << "a changed byte";
    EXPECT_NE(model.check(kA, std::string("hello")), "") << "lost fsync'ed bytes";
    EXPECT_NE(model.check(kA, Content()), "") << "a lost file";
    EXPECT_EQ(model.check(kB, Content()), "");
    EXPECT_NE(model.check(kB, std::string()), "") << "a file that was never made";
}

TEST(CrashModel, TruncatedAwayBytesNeverComeBack) {
    CrashModel model(1);
    ASSERT_NO_FATAL_FAILURE(make_synced(model, kA, "0123456789"));
    ASSERT_EQ(model.apply(truncate_event(kA, 4)), "");
    ASSERT_EQ(model.apply(truncate_event(kA, 10)), "");
    ASSERT_EQ(model.apply(name_event(EventKind::synced, kA)), "");
    EXPECT_EQ(model.check(kA, std::string("0123\0\0\0\0\0\0", 10)), "");
    EXPECT_NE(model.check(kA, std::string("0123456789")), "") << "the truncated bytes came back";
}

TEST(CrashModel, AFileWithChangesInFlightMayHoldAnyMixOfItsStates) {
    CrashModel model(1);
    ASSERT_NO_FATAL_FAILURE(make_synced(model, kA, "aaaaaaaa"));
    ASSERT_EQ(model.apply(write_event(kA, 2, "bbbb")), "");
    ASSERT_EQ(model.apply(write_event(kA, 6, "cccccc")), "");
    EXPECT_EQ(model.check(kA, std::string("aaaaaaaa")), "") << "nothing of the writes";
    EXPECT_EQ(model.check(kA, std::string("aabbaaaa")), "") << "part of the first write";
    EXPECT_EQ(model.check(kA, std::string("aaaaaacccc\0\0", 12)), "") << "part of the second, zeros after";
    EXPECT_EQ(model.check(kA, std::string("aabbbbcccccc")), "") << "everything";
    EXPECT_NE(model.check(kA, std::string("aaaaxaaa")), "") << "a byte no state holds there";
    EXPECT_NE(model.check(kA, std::string("aaaa")), "") << "smaller than every state";
    EXPECT_NE(model.check(kA, std::string(13, 'a')), "") << "larger than every state";
    EXPECT_NE(model.check(kA, Content()), "") << "gone, though never unlinked";

    // After the remount the file holds what was seen, until it changes.
    model.settle(kA, std::string("aabbaaaa"));
    EXPECT_EQ(model.check(kA, std::string("aabbaaaa")), "");
    EXPECT_NE(model.check(kA, std::string("aabbbbcc")), "") << "changed without a write";
}

TEST(CrashModel, AnAcknowledgedUnlinkIsFinal) {
    CrashModel model(1);
    ASSERT_NO_FATAL_FAILURE(make_synced(model, kA, "data"));
    ASSERT_EQ(model.apply(name_event(EventKind::unlink, kA)), "");
    EXPECT_EQ(model.check(kA, std::string("data")), "") << "in flight: may still be there";
    EXPECT_EQ(model.check(kA, Content()), "");
    ASSERT_EQ(model.apply(name_event(EventKind::synced, kA)), "");
    EXPECT_NE(model.check(kA, std::string("data")), "") << "the unlinked file came back";
    EXPECT_EQ(model.check(kA, Content()), "");
}

TEST(CrashModel, AnAcknowledgedRenameMovesTheFileAndItsDurability) {
    CrashModel model(2);
    ASSERT_NO_FATAL_FAILURE(make_synced(model, kA, "new"));
    ASSERT_NO_FATAL_FAILURE(make_synced(model, kB, "old"));
    ASSERT_EQ(model.apply(rename_event(EventKind::rename, kA, kB)), "");
    EXPECT_EQ(model.check(kB, std::string("old")), "") << "in flight: either";
    EXPECT_EQ(model.check(kB, std::string("new")), "") << "in flight: either";
    ASSERT_EQ(model.apply(rename_event(EventKind::rename_synced, kA, kB)), "");
    EXPECT_EQ(model.check(kB, std::string("new")), "");
    EXPECT_NE(model.check(kB, std::string("old")), "") << "the replaced file came back";
    EXPECT_EQ(model.check(kA, Content()), "");
    EXPECT_NE(model.check(kA, std::string("new")), "") << "the old name came back";
}

TEST(CrashModel, ARenamedFileWithUnsyncedWritesStaysInFlight) {
    CrashModel model(2);
    ASSERT_NO_FATAL_FAILURE(make_synced(model, kA, "xxxx"));
    ASSERT_EQ(model.apply(write_event(kA, 0, "yy")), "");
    ASSERT_EQ(model.apply(rename_event(EventKind::rename, kA, kB)), "");
    ASSERT_EQ(model.apply(rename_event(EventKind::rename_synced, kA, kB)), "");
    EXPECT_EQ(model.check(kB, std::string("xxxx")), "");
    EXPECT_EQ(model.check(kB, std::string("yyxx")), "");
    EXPECT_NE(model.check(kB, Content()), "");
    EXPECT_NE(model.check(kA, std::string("xxxx")), "");
}

TEST(CrashModel, EventsThatCannotHappenAreRefused) {
    CrashModel model(2);
    EXPECT_NE(model.apply(write_event(kA, 0, "x")), "") << "a write to a file that does not exist";
    EXPECT_NE(model.apply(name_event(EventKind::unlink, kA)), "");
    EXPECT_NE(model.apply(rename_event(EventKind::rename_synced, kA, kB)), "") << "a rename that never began";
    EXPECT_NE(model.apply(name_event(EventKind::synced, 5)), "") << "a name out of range";
}

}  // namespace
}  // namespace bcl::test
