// Writeback after the cache went out of service (health/io_errors.cc):
// one pass at full speed over every dirty file, each whole in one step and
// its unreadable extents skipped (task.cc); its end puts the set in
// passthrough.
#include "writeback/task.h"
#include "writeback/writeback.h"

namespace bcl {

void Writeback::start_evacuation() {
    // Before open has made the task, open posts this itself.
    if (!task_ || core_.closing.load(std::memory_order_acquire)) return;
    WritebackTask& w = *task_;
    if (w.evacuating || core_.state.load(std::memory_order_acquire) != CacheState::failing) return;
    w.evacuating = true;
    w.unreadable = 0;
    w.cursor = 0;
    arm(std::chrono::steady_clock::now());
}

void Writeback::evacuation_over() {
    WritebackTask& w = *task_;
    w.evacuating = false;
    core_.state.store(CacheState::passthrough, std::memory_order_release);
    flushing_.store(false, std::memory_order_release);
    const std::uint64_t left = core_.dirty_bytes();
    if (w.unreadable == 0 && left == 0) {
        core_.log.warn("cache {} is in passthrough: all of its dirty data was written back", core_.cache_name());
    } else {
        core_.log.error(
            "cache {} is in passthrough: {} bytes of dirty data could not be read from the cache device and "
            "stay there, reads of them fail with EIO ({} bytes left dirty in all)",
            core_.cache_name(), w.unreadable, left);
    }
}

}  // namespace bcl
