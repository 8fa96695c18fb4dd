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
    return ok();
}

}  // namespace bcl
