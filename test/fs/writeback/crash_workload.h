// The write-heavy workload that the crash loop kills the daemon under. It
// runs in a forked child against the mount and, step by step, writes at
// random offsets and sizes (block-aligned and not, some extending the file,
// some leaving holes), truncates down and up, writes with O_SYNC, renames
// over existing names, replaces files atomically (create, write, fsync,
// rename, fsync the folder), unlinks, and fsyncs or fdatasyncs. Before each
// change it reports what the change will do, and after each fsync what is
// now durable (crash_event.h), applying every event to its own copy of the
// model so that it always knows what each name holds.
//
// The steps and the data follow from the seed alone, given the model it
// starts from. When an operation fails (the daemon is gone) it reports the
// error and stops.
//
// Thread safety: runs on the child's one thread.
#pragma once

#include <cstdint>
#include <string>

#include "crash_model.h"

namespace bcl::test {

// Files never grow past this, so that the model stays small.
inline constexpr std::size_t kMaxCrashFileSize = 256 << 10;

struct CrashWorkloadSpec {
    std::string mnt;     // the mount point
    CrashLayout layout;  // the names it works on; the folders exist
    std::uint64_t seed = 0;
    int steps = 0;       // how many steps before it reports `finished`
    int report_fd = -1;  // the write end of the pipe to the test
};

// Runs the workload from `model` (what the names hold now). 0 after all
// steps, 1 after the first failed operation (reported as a `failed` event),
// 2 when the pipe to the test broke.
int run_crash_workload(const CrashWorkloadSpec& spec, CrashModel model);

}  // namespace bcl::test
