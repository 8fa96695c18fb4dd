// GcRequests: when GC runs. A pass is requested, never run, from where the
// need is found: the timer, the allocator's wake_gc (nothing left to
// invalidate), and count_write(). Like bcache's sectors_to_gc, every
// sector the cache writes counts down from 1/kGcWriteFraction of the
// cache's data sectors (core/gc_countdown.h), and the write that takes the
// countdown below zero requests a pass; the countdown starts again when a
// pass starts. So GC keeps pace with a cache that fills and refills,
// instead of waiting for the timer or for the allocator to run dry.
//
// A request only sets a flag and posts one step to the strand unless one
// is queued: foreground threads never run GC, and never queue more than
// one step. The step itself (CacheSet's gc_kick) calls begin_step() first
// and take_request() before it starts a pass.
//
// Thread safety: every function may be called from any thread, except
// begin_step(), take_request() and requeue(), which belong to the strand.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "bcachefs_lite/cache/background.h"
#include "core/gc_countdown.h"

namespace bcl {

// GC runs each time this fraction of the cache has been written (bcache: 16).
inline constexpr std::uint64_t kGcWriteFraction = 16;

class GcRequests {
public:
    // data_sectors: the cache's; step: one GC step, posted to bg's strand;
    // nothing is posted once `closing` is set.
    GcRequests(std::uint64_t data_sectors, Background& bg, const std::atomic<bool>& closing,
               std::function<void()> step);

    // Counts sectors written to the cache device: any kind of cache write
    // must count.
    void count_write(std::uint64_t sectors);
    // The allocator found nothing to invalidate. A pass helps only if
    // something changed since the last one started; if nothing did, the
    // next change asks for it (note_change()).
    void allocator_wants_gc();
    // Data was freed or made reclaimable: GC could find buckets to free.
    void note_change();
    // Asks for a pass.
    void request();

    // The step's first call: the step is no longer queued.
    void begin_step() { queued_.store(false, std::memory_order_release); }
    // Whether a pass was asked for since the last call (and clears it).
    bool take_request() { return requested_.exchange(false, std::memory_order_acq_rel); }
    bool requested() const { return requested_.load(std::memory_order_acquire); }
    // Posts the next step unless one is queued.
    void requeue();

    GcCountdown& countdown() { return countdown_; }

private:
    GcCountdown countdown_;
    Background& bg_;
    const std::atomic<bool>& closing_;
    const std::function<void()> step_;
    std::atomic<bool> queued_{false};     // a step is posted
    std::atomic<bool> requested_{false};  // a pass was asked for
    std::atomic<bool> starved_{false};    // the allocator wants a pass once something changes
};

}  // namespace bcl
