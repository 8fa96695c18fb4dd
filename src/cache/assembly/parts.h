// CacheSetParts: what a cache set is made of, and how it is made and taken
// apart. The facade (cache/cache_set.h) owns one and hands its calls to the
// parts held here.
//
// Assembly (open.cc): the core's devices, index, allocators and file table
// first, then the parts, each given the core (and the parts it asks) by
// reference, in the order they are declared below; a failed open undoes
// what it made. Close (close.cc) stops the parts' timers on their strands,
// then the allocators and the background threads, before the index's last
// writes. The parts are destroyed in reverse order, the core last.
//
// Threads: open() and close() belong to the owner's thread; the link check
// and the failure of a device run on the strand or any thread.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "bcachefs_lite/cache/cache_set_options.h"
#include "bcachefs_lite/cache/pins.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"
#include "core/core.h"
#include "gc/scheduler.h"
#include "io/admission.h"
#include "io/data_path.h"
#include "writeback/writeback.h"

namespace bcl {

class CacheSetParts {
public:
    // CacheSet::open() says what it does and refuses.
    static Result<std::unique_ptr<CacheSetParts>> open(CacheSetOptions options, Logger& log);
    // Stops what a refused open started; nothing after close().
    ~CacheSetParts();
    CacheSetParts(const CacheSetParts&) = delete;
    CacheSetParts& operator=(const CacheSetParts&) = delete;
    // CacheSet::close() says what it does.
    Status close();

    // Declared first: destroyed last, after every part that uses it.
    std::unique_ptr<CacheCore> core;
    std::string index_dir;
    // Whether this open took the GC marks from the snapshot of the last
    // clean close, and whether the index's clean flag was set.
    bool opened_from_gc_snapshot = false;
    bool opened_clean = false;

    // The parts, in the order they are made (each may take those before
    // it), destroyed in reverse.
    std::unique_ptr<Admission> admission;
    std::unique_ptr<Writeback> writeback;
    std::unique_ptr<DataPath> data_path;
    std::unique_ptr<Pins> pins;
    std::unique_ptr<GcScheduler> gc;

private:
    CacheSetParts(Logger& log, CacheSetOptions& options);

    // open.cc: the steps of an open, in order: the backing root (and
    // writeback's reach), the index, the allocators and the parts on them,
    // the first marks and work.
    // `created_index` names the index directory when the open made it.
    Status assemble(CacheSetOptions& options, std::string& created_index);
    Status open_backing_root(const CacheSetOptions& options);
    Status open_index(CacheSetOptions& options, std::string& created_index);
    Status build_allocators(CacheSetOptions& options);
    Status start_serving();
    Status check_index_contents(Status first_gc_pass);
    // Now and then, the core's backing_link.check(): a call that hangs
    // takes the link down.
    void schedule_link_check();
    // A device's error count reached the limit (health/io_errors.h; any
    // thread).
    void device_failed(unsigned dev, const Error& error);

    // close.cc
    void stop_running();
    Status close_index(Status flushed);
    Status persist_all_prios();
    Status clear_dirty_flags();

    std::uint64_t sequence_at_open_ = 0;                     // Index::sequence() before the open's first write
    bool closed_ = false;                                    // owner's thread only
    std::unique_ptr<boost::asio::steady_timer> link_timer_;  // used on the strand only
};

}  // namespace bcl
