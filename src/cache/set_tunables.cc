// CacheSet::tunables() and set_tunables(): every tunable as one value, for
// the knobs of the mount root, which change one of them at a time.
#include "bcachefs_lite/cache/cache_set.h"

#include <fmt/format.h>

#include "assembly/parts.h"
#include "health/io_errors.h"

namespace bcl {

CacheMode CacheSet::mode() const { return core_.mode.load(std::memory_order_acquire); }

Status CacheSet::set_mode(CacheMode mode) {
    if (mode == CacheMode::writeback && !core_.writeback_possible)
        return make_error(Errc::unsupported, fmt::format("mode=writeback: {}", core_.writeback_unavailable));
    const CacheMode before = core_.mode.exchange(mode, std::memory_order_acq_rel);
    if (before != mode) core_.log.info("cache mode {} -> {}", cache_mode_name(before), cache_mode_name(mode));
    return ok();
}

Tunables CacheSet::tunables() const {
    return Tunables{.mode = mode(),
                    .writeback = parts_->writeback->tunables(),
                    .promotion = parts_->admission->promotion_tunables(),
                    .io_errors = bcl::io_error_tunables(core_),
                    .bypass = parts_->admission->bypass_tunables(),
                    .moving_gc = parts_->gc->moving().tunables(),
                    .pin_limit_percent = parts_->pins->pin_limit_percent(),
                    .actimeo = core_.window.seconds(),
                    .backing_timeout = core_.backing_link.timeout()};
}

Status CacheSet::set_tunables(const Tunables& t) {
    BCL_TRY(validate(t));
    const Tunables now = tunables();
    // Only what changed: a setter may have effects of its own (set_mode
    // logs, Writeback::set_tunables wakes writeback).
    if (t.mode != now.mode) BCL_TRY(set_mode(t.mode));
    if (t.writeback != now.writeback) BCL_TRY(parts_->writeback->set_tunables(t.writeback));
    if (t.promotion != now.promotion) BCL_TRY(parts_->admission->set_promotion_tunables(t.promotion));
    if (t.io_errors != now.io_errors) bcl::set_io_error_tunables(core_, t.io_errors);
    if (t.bypass != now.bypass) BCL_TRY(parts_->admission->set_bypass_tunables(t.bypass));
    if (t.moving_gc != now.moving_gc) parts_->gc->moving().set_tunables(t.moving_gc);
    if (t.pin_limit_percent != now.pin_limit_percent) BCL_TRY(parts_->pins->set_pin_limit_percent(t.pin_limit_percent));
    if (t.actimeo != now.actimeo) core_.window.set(t.actimeo);
    if (t.backing_timeout != now.backing_timeout) core_.backing_link.set_timeout(t.backing_timeout);
    return ok();
}

}  // namespace bcl
