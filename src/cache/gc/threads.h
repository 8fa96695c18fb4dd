// run_workers: a few threads for one bounded piece of work (a GC step or
// pass), all joined before it returns; no pool outlives the call.
//
// Thread safety: `work` is called from n threads at once, each with its
// own index; it must not throw.
#pragma once

#include <functional>

namespace bcl {

// Calls work(0) ... work(n - 1) at once, work(0) on the calling thread, and
// returns when every call has returned. When a thread cannot be started,
// its call runs on the calling thread after work(0): slower, same result.
void run_workers(unsigned n, const std::function<void(unsigned)>& work);

}  // namespace bcl
