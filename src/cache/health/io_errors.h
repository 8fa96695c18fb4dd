// A cache set's device errors, over its core (io_errors.cc says how a
// failing device takes the set out of service).
//
// Thread safety: device_failed() may be called from any thread, with any
// locks held; the rest from the owner's thread.
#pragma once

#include "bcachefs_lite/device/io_error_counter.h"
#include "bcachefs_lite/util/error.h"
#include "core/core.h"

namespace bcl {

// degraded: fills the places of missing members with stand-ins and counts
// them as failed. Before the index's first write.
Status stand_in_missing_members(CacheCore& core);
// Device `dev`'s error count reached the limit: it is read no more, and
// the set goes out of service. True when this call took the set out of
// service: the caller starts the evacuation (Writeback::start_evacuation).
bool device_failed(CacheCore& core, unsigned dev, const Error& error);
// The first device's tunables (every device has the same).
IoErrorTunables io_error_tunables(const CacheCore& core);
// For every cache device; a limit the count has already reached takes the
// cache out of service at its next error.
void set_io_error_tunables(CacheCore& core, const IoErrorTunables& tunables);

}  // namespace bcl
