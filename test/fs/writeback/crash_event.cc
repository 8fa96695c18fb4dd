#include "crash_event.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bcl::test {
namespace {

using Clock = std::chrono::steady_clock;

// kind (1), a (2), b (2), arg (8), payload length (4); native byte order:
// both ends are processes of one test on one machine.
constexpr std::size_t kHeaderSize = 1 + 2 + 2 + 8 + 4;

bool known_kind(std::uint8_t kind) {
    return kind >= static_cast<std::uint8_t>(EventKind::write) &&
           kind <= static_cast<std::uint8_t>(EventKind::finished);
}

}  // namespace

const char* event_kind_name(EventKind kind) {
    switch (kind) {
    case EventKind::write: return "write";
    case EventKind::create: return "create";
    case EventKind::truncate: return "truncate";
    case EventKind::unlink: return "unlink";
    case EventKind::rename: return "rename";
    case EventKind::synced: return "synced";
    case EventKind::rename_synced: return "rename_synced";
    case EventKind::step_done: return "step_done";
    case EventKind::failed: return "failed";
    case EventKind::finished: return "finished";
    }
    return "unknown";
}

Event name_event(EventKind kind, std::size_t name) {
    Event event;
    event.kind = kind;
    event.a = static_cast<std::uint16_t>(name);
    return event;
}

Event write_event(std::size_t name, std::uint64_t offset, std::string data) {
    Event event = name_event(EventKind::write, name);
    event.arg = offset;
    event.data = std::move(data);
    return event;
}

Event truncate_event(std::size_t name, std::uint64_t size) {
    Event event = name_event(EventKind::truncate, name);
    event.arg = size;
    return event;
}

Event rename_event(EventKind kind, std::size_t from, std::size_t to) {
    Event event = name_event(kind, from);
    event.b = static_cast<std::uint16_t>(to);
    return event;
}

Event progress_event(EventKind kind) {
    Event event;
    event.kind = kind;
    return event;
}

Event failure_event(int err, std::string what) {
    Event event = progress_event(EventKind::failed);
    event.arg = static_cast<std::uint64_t>(err);
    event.data = std::move(what);
    return event;
}

std::string encode_event(const Event& event) {
    std::string out(kHeaderSize, '\0');
    auto length = static_cast<std::uint32_t>(event.data.size());
    char* p = out.data();
    *p = static_cast<char>(event.kind);
    std::memcpy(p + 1, &event.a, 2);
    std::memcpy(p + 3, &event.b, 2);
    std::memcpy(p + 5, &event.arg, 8);
    std::memcpy(p + 13, &length, 4);
    out += event.data;
    return out;
}

bool send_event(int fd, const Event& event) {
    std::string bytes = encode_event(event);
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

bool EventReader::take(Event& out, bool& corrupt) {
    std::size_t available = buffer_.size() - consumed_;
    if (available < kHeaderSize) return false;
    const char* p = buffer_.data() + consumed_;
    std::uint32_t length = 0;
    std::memcpy(&length, p + 13, 4);
    if (!known_kind(static_cast<std::uint8_t>(*p)) || length > kMaxEventData) {
        corrupt = true;
        return false;
    }
    if (available < kHeaderSize + length) return false;
    out.kind = static_cast<EventKind>(*p);
    std::memcpy(&out.a, p + 1, 2);
    std::memcpy(&out.b, p + 3, 2);
    std::memcpy(&out.arg, p + 5, 8);
    out.data.assign(p + kHeaderSize, length);
    consumed_ += kHeaderSize + length;
    // Keep the buffer from growing without bound over a long stream.
    if (consumed_ > (1u << 20)) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
    }
    return true;
}

EventReader::Status EventReader::next(Event& out, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        bool corrupt = false;
        if (take(out, corrupt)) return Status::event;
        if (corrupt) return Status::corrupt;
        if (eof_) return Status::eof;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return Status::timeout;
        pollfd pfd{fd_, POLLIN, 0};
        int ready = ::poll(&pfd, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return Status::corrupt;
        if (ready == 0) return Status::timeout;
        char chunk[65536];
        ssize_t n = ::read(fd_, chunk, sizeof chunk);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {
            eof_ = true;
            continue;
        }
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

}  // namespace bcl::test
