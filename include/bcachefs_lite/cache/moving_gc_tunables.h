// The moving GC tunables (bcache's copy_gc_enabled): whether the live data
// of sparsely used buckets is copied out so that those buckets can be freed
// (src/cache/gc/moving_gc.h says when and how).
//
// Thread safety: plain values.
#pragma once

namespace bcl {

struct MovingGcTunables {
    // Run moving GC after GC passes when free buckets run low. Turning it
    // off stops a round in progress at its next step. Default: true
    // (bcache's default).
    bool copy_gc_enabled = true;

    bool operator==(const MovingGcTunables&) const = default;
};

}  // namespace bcl
