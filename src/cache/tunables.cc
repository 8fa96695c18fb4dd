#include "bcachefs_lite/cache/tunables.h"

#include <fmt/format.h>

namespace bcl {

Status validate(const Tunables& t) {
    BCL_TRY(validate(t.writeback));
    BCL_TRY(validate(t.promotion));
    BCL_TRY(validate(t.bypass));
    if (t.pin_limit_percent > kMaxPinLimitPercent)
        return make_error(Errc::invalid,
                          fmt::format("pin_limit_percent={}: at most {}", t.pin_limit_percent, kMaxPinLimitPercent));
    if (!(t.actimeo >= 0 && t.actimeo <= kMaxActimeoSeconds))
        return make_error(Errc::invalid, fmt::format("actimeo={}: expected 0 to {} seconds", t.actimeo,
                                                     static_cast<unsigned>(kMaxActimeoSeconds)));
    if (!(t.backing_timeout >= 0 && t.backing_timeout <= kMaxBackingTimeoutSeconds))
        return make_error(Errc::invalid, fmt::format("backing_timeout={}: expected 0 to {} seconds", t.backing_timeout,
                                                     static_cast<unsigned>(kMaxBackingTimeoutSeconds)));
    return ok();
}

}  // namespace bcl
