// Tunables: every setting of the engine that may change while the cache is
// open, in one value. The mount options set it at open
// (CacheSetOptions::tunables) and the knobs of the mount root change it
// later (CacheSet::set_tunables); each group keeps its own header, which
// says what its fields mean and what range each takes.
//
// Thread safety: a plain value.
#pragma once

#include "bcachefs_lite/cache/cache_mode.h"
#include "bcachefs_lite/cache/moving_gc_tunables.h"
#include "bcachefs_lite/cache/promotion_tunables.h"
#include "bcachefs_lite/cache/sequential.h"
#include "bcachefs_lite/cache/writeback_tunables.h"
#include "bcachefs_lite/device/io_error_counter.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

inline constexpr unsigned kMaxPinLimitPercent = 100;
// A day: a longer window would only hide changes made behind the cache's back.
inline constexpr double kMaxActimeoSeconds = 86400;
// An hour: a call on the backing longer than that is not coming back.
inline constexpr double kMaxBackingTimeoutSeconds = 3600;

struct Tunables {
    // How writes use the cache (cache_mode.h). Default: writethrough.
    CacheMode mode = CacheMode::writethrough;
    // Writeback's pace and cutoffs. Default: bcache's.
    WritebackTunables writeback;
    // Which read misses are cached. Default: promote=always.
    PromotionTunables promotion;
    // When a failing cache device is taken out of service. Default: bcache's
    // (8 errors, no decay).
    IoErrorTunables io_errors;
    // Sequential bypass and congestion. Default: bcache's (4 MiB, 2000 us,
    // 20000 us).
    BypassTunables bypass;
    // Moving GC. Default: on, as bcache.
    MovingGcTunables moving_gc;
    // Percent of the cache's data bytes pinned data may take, 0..100.
    // Default: 50.
    unsigned pin_limit_percent = 50;
    // Seconds a file checked against the backing stays trusted without
    // another check (coherency_window.h), 0 to kMaxActimeoSeconds. Default:
    // 3, as NFS's acregmin.
    double actimeo = 3.0;
    // Seconds a call on the backing directory may take before the backing
    // counts as not answering (backing_link.h), 0 for no limit, up to
    // kMaxBackingTimeoutSeconds. Default: 30.
    double backing_timeout = 30.0;

    bool operator==(const Tunables&) const = default;
};

// Errc::invalid with one line naming the first tunable out of range.
Status validate(const Tunables& tunables);

}  // namespace bcl
