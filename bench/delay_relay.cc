// delay_relay: a TCP relay on 127.0.0.1 that holds every chunk it passes
// on for a fixed delay in each direction, keeping the order of the bytes.
// With 0.5 ms each way it adds about 1 ms to the round trip of whatever
// talks through it (bench/net puts it between sshfs or rclone and sshd), on
// a kernel without netem.
//
// Usage: delay_relay --target-port PORT [--listen-port PORT] [--delay-us US]
//
// It listens on 127.0.0.1 (port 0, the default, lets the kernel pick one),
// prints the port it listens on as one line on stdout, and connects each
// accepted connection to 127.0.0.1:TARGET. Each direction of a connection
// has a reader, which stamps each chunk with the time it was read, and a
// writer, which sends the chunk once its delay has passed: the delay is
// latency, not a limit on throughput. SIGTERM or SIGINT closes every
// connection and exits with status 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kChunkBytes = 64 * 1024;
// A reader stops reading while this much waits in its queue, so that a slow
// receiver holds the sender back, as TCP would.
constexpr std::size_t kQueueBytes = 4 * 1024 * 1024;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "delay_relay: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

bool write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

void set_nodelay(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Acknowledges what was read at once. ssh leaves Nagle's algorithm on for
// sftp, so its next small packet waits for the acknowledgement of the last;
// the kernel would delay that for up to 40 ms, since the relay sends no data
// back on that socket to carry it. (On a real link the acknowledgement
// would come a round trip later; here it comes at once.) Linux clears the
// flag again by itself, so it is set after every read.
void quickack(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

// One direction of a connection: bytes read from `from` reach `to` after
// `delay`, in order. An empty chunk marks the end of the stream.
class Pipe {
public:
    Pipe(int from, int to, Clock::duration delay) : from_(from), to_(to), delay_(delay) {}

    void start() {
        reader_ = std::thread([this] { read_loop(); });
        writer_ = std::thread([this] { write_loop(); });
    }
    void join() {
        reader_.join();
        writer_.join();
    }

private:
    struct Chunk {
        Clock::time_point due;
        std::vector<char> bytes;
    };

    void push(Chunk c) {
        {
            std::unique_lock lock(mu_);
            room_.wait(lock, [this] { return queued_ < kQueueBytes; });
            queued_ += c.bytes.size();
            queue_.push_back(std::move(c));
        }
        cv_.notify_one();
    }

    Chunk pop() {
        Chunk c;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return !queue_.empty(); });
            c = std::move(queue_.front());
            queue_.pop_front();
            queued_ -= c.bytes.size();
        }
        room_.notify_one();
        return c;
    }

    void read_loop() {
        for (;;) {
            std::vector<char> buf(kChunkBytes);
            const ssize_t r = ::recv(from_, buf.data(), buf.size(), 0);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;  // end of stream, reset, or shut down by stop()
            quickack(from_);
            buf.resize(static_cast<std::size_t>(r));
            push({Clock::now() + delay_, std::move(buf)});
        }
        push({Clock::now() + delay_, {}});
    }

    void write_loop() {
        for (;;) {
            Chunk c = pop();
            std::this_thread::sleep_until(c.due);
            if (c.bytes.empty()) {
                ::shutdown(to_, SHUT_WR);  // pass the end of stream on
                return;
            }
            if (!write_all(to_, c.bytes.data(), c.bytes.size())) {
                // The receiver is gone: stop reading from the sender too.
                ::shutdown(from_, SHUT_RDWR);
                ::shutdown(to_, SHUT_RDWR);
                drain();
                return;
            }
        }
    }

    // Discards what the reader queues until its end-of-stream marker.
    void drain() {
        while (!pop().bytes.empty()) {
        }
    }

    int from_, to_;
    Clock::duration delay_;
    std::mutex mu_;
    std::condition_variable cv_;    // something queued
    std::condition_variable room_;  // room in the queue
    std::deque<Chunk> queue_;
    std::size_t queued_ = 0;  // bytes in queue_
    std::thread reader_, writer_;
};

// A relayed connection: two pipes, and a thread that waits for both and
// then closes the sockets.
class Connection {
public:
    Connection(int client, int server, Clock::duration delay)
        : client_(client), server_(server), up_(client, server, delay), down_(server, client, delay) {
        up_.start();
        down_.start();
        closer_ = std::thread([this] {
            up_.join();
            down_.join();
            std::lock_guard lock(mu_);
            ::close(client_);
            ::close(server_);
            done_.store(true);
        });
    }
    ~Connection() { closer_.join(); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool done() const { return done_.load(); }
    // Ends both directions at once (on SIGTERM).
    void stop() {
        std::lock_guard lock(mu_);
        if (done_.load()) return;  // closed already: the numbers may be reused
        ::shutdown(client_, SHUT_RDWR);
        ::shutdown(server_, SHUT_RDWR);
    }

private:
    int client_, server_;
    Pipe up_, down_;
    std::thread closer_;
    std::mutex mu_;
    std::atomic<bool> done_{false};
};

int parse_int(std::string_view s, const char* name) {
    int v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v < 0) {
        std::fprintf(stderr, "delay_relay: bad %s: %.*s\n", name, static_cast<int>(s.size()), s.data());
        std::exit(2);
    }
    return v;
}

sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int connect_target(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const sockaddr_in a = loopback(port);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    set_nodelay(fd);
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    int listen_port = 0, target_port = -1, delay_us = 500;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "usage: delay_relay --target-port PORT [--listen-port PORT] [--delay-us US]\n");
            return 2;
        }
        const std::string_view v = argv[++i];
        if (a == "--target-port") {
            target_port = parse_int(v, "port");
        } else if (a == "--listen-port") {
            listen_port = parse_int(v, "port");
        } else if (a == "--delay-us") {
            delay_us = parse_int(v, "delay");
        } else {
            std::fprintf(stderr, "delay_relay: unknown option %.*s\n", static_cast<int>(a.size()), a.data());
            return 2;
        }
    }
    if (target_port <= 0 || target_port > 65535 || listen_port > 65535) {
        std::fprintf(stderr, "usage: delay_relay --target-port PORT [--listen-port PORT] [--delay-us US]\n");
        return 2;
    }

    // Sleeps end on time, not up to the default 50 us late (inherited by
    // every thread).
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

    // Every thread inherits the blocked signals; only signalfd sees them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &sigs, nullptr) != 0) die("pthread_sigmask");
    const int sfd = ::signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0) die("signalfd");

    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    const int one = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr = loopback(listen_port);
    if (::bind(lfd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("bind");
    if (::listen(lfd, 128) != 0) die("listen");
    socklen_t len = sizeof addr;
    if (::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) die("getsockname");
    std::printf("%d\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    const auto delay = std::chrono::microseconds(delay_us);
    std::list<std::unique_ptr<Connection>> conns;
    for (;;) {
        pollfd fds[2] = {{lfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        const int n = ::poll(fds, 2, 1000);
        if (n < 0 && errno != EINTR) die("poll");
        conns.remove_if([](const auto& c) { return c->done(); });  // joins their threads
        if (n <= 0) continue;
        if (fds[1].revents & POLLIN) break;
        if (fds[0].revents & POLLIN) {
            const int client = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) continue;
            set_nodelay(client);
            const int server = connect_target(target_port);
            if (server < 0) {
                std::fprintf(stderr, "delay_relay: connecting to port %d: %s\n", target_port, std::strerror(errno));
                ::close(client);
                continue;
            }
            conns.push_back(std::make_unique<Connection>(client, server, delay));
        }
    }
    ::close(lfd);
    for (auto& c : conns) c->stop();
    conns.clear();
    return 0;
}
