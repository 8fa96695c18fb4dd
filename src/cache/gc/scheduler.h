// GcScheduler: when a cache set's GC passes run, as one part over its
// core. A pass is requested (core/gc_requests.h) and run in bounded steps
// on the strand (step()); a timer requests one every gc_interval; run()
// runs a whole pass at once. Moving GC starts after each pass
// (gc/moving_gc.h). The marks a clean close saved (gc/snapshot.h) stand
// for the first pass at open when nothing wrote to the index since; a
// clean close makes them by a last full pass.
//
// Thread safety: step(), start_timer(), cancel_timer() and the snapshot
// functions belong to the strand (or the owner's thread while nothing
// runs); run() to the owner's thread.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "bcachefs_lite/cache/moving_gc_tunables.h"
#include "core/core.h"
#include "gc/gc.h"
#include "gc/moving_gc.h"
#include "gc/snapshot.h"

namespace bcl {

class GcScheduler {
public:
    // interval: between passes the timer requests (0: none); batch and
    // threads: GcOptions'.
    GcScheduler(CacheCore& core, std::chrono::milliseconds interval, std::size_t batch, unsigned threads,
                const MovingGcTunables& moving);
    ~GcScheduler();

    GcJob& job() { return *job_; }
    MovingGc& moving() { return *moving_; }

    // Restores the marks saved at the last clean close into the allocator
    // (true), unless the cache was not closed clean, the index was written
    // since (`sequence_at_open`) or the file is bad (false, logged).
    Result<bool> restore_snapshot(const std::string& index_dir, std::uint64_t sequence_at_open, bool opened_clean);
    // At a clean close, with nothing else running: a last full pass makes
    // the marks exact; write_snapshot() writes them after the close's last
    // index write (nothing when take_snapshot() did not run).
    Status take_snapshot();
    Status write_snapshot(const std::string& index_dir);

    void start_timer();
    void cancel_timer();
    // One step of the pass on the strand (what GcRequests posts); posts
    // the next while the pass goes on.
    void step();
    // A whole pass now: in manual mode on the calling thread, else on the
    // strand while the caller waits.
    Status run();

private:
    // GcOptions::verify_dirty: whether each copy of a dirty extent still
    // holds what its checksum says.
    bool dirty_data_intact(const Extent& e);
    void schedule_timer();

    CacheCore& core_;
    const std::chrono::milliseconds interval_;
    std::unique_ptr<GcJob> job_;
    std::unique_ptr<MovingGc> moving_;
    std::unique_ptr<boost::asio::steady_timer> timer_;  // strand only
    std::unique_ptr<GcSnapshot> snapshot_;              // made by take_snapshot()
};

}  // namespace bcl
