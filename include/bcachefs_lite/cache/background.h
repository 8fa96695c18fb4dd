// Background: the executor of a cache set's background work (allocator
// steps, GC steps, the periodic GC timer, writeback, pin fetches): one
// boost::asio io_context run by kThreads threads, or, for tests, by nobody
// until run_until_idle() polls it.
//
// Background jobs are plain functions that do one bounded step and post
// the next; handlers never throw and never block on foreground work. Each
// runs on a strand: the allocators' own, the cache set's (strand()), or,
// for the jobs that call the backing directory, backing_strand(). A
// backing that is slow or hangs (NFS, sshfs) thus holds one thread at
// most, and the other keeps the allocators' refills, GC and the check of
// the backing link (backing_link.h) going.
//
// Thread safety: executor() and the strands may be used from any thread.
// start(), stop() and run_until_idle() are called by the owner only (the
// cache set, or a test). stop() joins the thread: call it from outside the
// io_context.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

namespace bcl {

class Background {
public:
    // manual: no thread; handlers run only inside run_until_idle().
    explicit Background(bool manual);
    ~Background();
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;

    bool manual() const { return manual_; }
    boost::asio::io_context& io() { return io_; }
    boost::asio::any_io_executor executor() { return io_.get_executor(); }
    // The strand the cache set's own jobs (GC, moving GC, the link check)
    // run on.
    boost::asio::strand<boost::asio::io_context::executor_type>& strand() { return strand_; }
    // The strand of the jobs that call the backing directory (writeback,
    // pin fetches).
    boost::asio::strand<boost::asio::io_context::executor_type>& backing_strand() { return backing_strand_; }

    // One thread for the backing's jobs, one for everything else.
    static constexpr unsigned kThreads = 2;

    // Starts the threads (not in manual mode). Idempotent. Must be called
    // in the process that will run the jobs: a thread does not survive
    // fork().
    void start();
    // Stops the threads after the handlers they are running return;
    // handlers still queued are dropped when the Background is destroyed.
    // Idempotent.
    void stop();
    bool running() const { return !threads_.empty(); }
    // Runs ready handlers on the calling thread until none is ready;
    // returns how many ran. Only while no thread runs (manual mode, or
    // before start()).
    std::size_t run_until_idle();

private:
    const bool manual_;
    boost::asio::io_context io_;
    boost::asio::strand<boost::asio::io_context::executor_type> strand_;
    boost::asio::strand<boost::asio::io_context::executor_type> backing_strand_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::vector<std::thread> threads_;
};

}  // namespace bcl
