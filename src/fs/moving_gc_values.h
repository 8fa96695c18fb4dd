// The moving GC tunable (cache/moving_gc_tunables.h) as people type it,
// shared by the mount option (copy_gc_enabled=0) and the settable extended
// attribute of the mount root (setfattr -n user.bcachefs_lite.copy_gc_enabled
// -v 0), as io_error_values.h does for the error tunables: a boolean, read
// back as 1 or 0.
//
// Thread safety: pure functions; the table is immutable.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "bcachefs_lite/cache/moving_gc_tunables.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// Errc::invalid, one line naming the tunable, on text that is not a
// boolean; `tunables` is unchanged then.
Status parse_copy_gc_enabled(MovingGcTunables& tunables, std::string_view text);

struct MovingGcTunableText {
    std::string_view name;
    Status (*parse)(MovingGcTunables& tunables, std::string_view text);
    std::string (*format)(const MovingGcTunables& tunables);
};

// Every moving GC tunable, in the order the documentation lists them.
std::span<const MovingGcTunableText> moving_gc_tunable_texts();
// The tunable named `name` (without any prefix), or null.
const MovingGcTunableText* find_moving_gc_tunable(std::string_view name);

}  // namespace bcl
