// What the crash workload reports to the test through a pipe, one event per
// step of its progress: the change it is about to make (so that the test
// knows what may be in flight when the daemon dies) and what an fsync has
// acknowledged (so that the test knows what must survive the crash).
//
// An event on the wire is a fixed header (kind, two name numbers, a 64-bit
// argument, the payload's length) followed by the payload. The workload is
// the only writer; a message cut short by its death is dropped by the
// reader.
//
// Thread safety: EventReader is for one thread; the free functions are
// thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace bcl::test {

enum class EventKind : std::uint8_t {
    write = 1,      // about to pwrite `data` at `arg` into the existing file `a`
    create,         // about to open `a` with O_CREAT|O_TRUNC: it becomes empty
    truncate,       // about to ftruncate `a` to `arg` bytes
    unlink,         // about to unlink `a`
    rename,         // about to rename `a` over `b`
    synced,         // fsync, fdatasync or an O_SYNC write of `a` returned (and,
                    // for a name made or removed, its directory's fsync): its
                    // present state is durable
    rename_synced,  // the rename of `a` to `b` returned and both directories
                    // were fsynced
    step_done,      // one step of the workload is complete
    failed,         // an operation failed: `arg` is errno, `data` says which
    finished,       // the workload ran all its steps
};

const char* event_kind_name(EventKind kind);

struct Event {
    EventKind kind = EventKind::step_done;
    std::uint16_t a = 0;
    std::uint16_t b = 0;
    std::uint64_t arg = 0;
    std::string data;
};

// Events of each shape; names are numbers in the workload's layout.
Event name_event(EventKind kind, std::size_t name);  // create, unlink, synced
Event write_event(std::size_t name, std::uint64_t offset, std::string data);
Event truncate_event(std::size_t name, std::uint64_t size);
Event rename_event(EventKind kind, std::size_t from, std::size_t to);  // rename, rename_synced
Event progress_event(EventKind kind);                                  // step_done, finished
Event failure_event(int err, std::string what);

// The largest payload an event may carry; anything larger on the wire
// means the stream is corrupt.
inline constexpr std::uint32_t kMaxEventData = 1u << 20;

// The event as bytes on the wire.
std::string encode_event(const Event& event);
// Writes the whole encoded event to `fd`; false on error (errno is kept).
bool send_event(int fd, const Event& event);

// Reads events from the read end of the workload's pipe.
class EventReader {
public:
    enum class Status { event, eof, timeout, corrupt };

    explicit EventReader(int fd) : fd_(fd) {}

    // The next event into `out`; waits at most `timeout` for it. `eof` when
    // the writer closed the pipe (a partial message left by a killed writer
    // is dropped), `corrupt` when the stream cannot be an event stream.
    Status next(Event& out, std::chrono::milliseconds timeout);

    // Bytes of a message that the writer did not finish.
    std::size_t unfinished_bytes() const { return buffer_.size() - consumed_; }

private:
    // One complete event from the buffer into `out`, if there is one.
    bool take(Event& out, bool& corrupt);

    int fd_;
    std::string buffer_;
    std::size_t consumed_ = 0;
    bool eof_ = false;
};

}  // namespace bcl::test
