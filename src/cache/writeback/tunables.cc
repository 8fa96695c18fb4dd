#include "bcachefs_lite/cache/writeback_tunables.h"

#include <fmt/format.h>

namespace bcl {

Status validate(const WritebackTunables& t) {
    if (t.writeback_percent > 40)
        return make_error(Errc::invalid,
                          fmt::format("writeback_percent={} is out of range (0 to 40)", t.writeback_percent));
    if (t.writeback_delay.count() < 0 || t.writeback_delay > std::chrono::hours(24))
        return make_error(Errc::invalid, fmt::format("writeback_delay={} is out of range (0 to 86400 seconds)",
                                                     t.writeback_delay.count()));
    if (t.writeback_rate_minimum < 512 || t.writeback_rate_minimum > kWritebackRateMax)
        return make_error(Errc::invalid, fmt::format("writeback_rate_minimum={} is out of range (512 to {} bytes/s)",
                                                     t.writeback_rate_minimum, kWritebackRateMax));
    if (t.cutoff_writeback < 1 || t.cutoff_writeback > 100)
        return make_error(Errc::invalid,
                          fmt::format("cutoff_writeback={} is out of range (1 to 100)", t.cutoff_writeback));
    if (t.cutoff_writeback_sync < t.cutoff_writeback || t.cutoff_writeback_sync > 100)
        return make_error(Errc::invalid,
                          fmt::format("cutoff_writeback_sync={} is out of range (cutoff_writeback={} to 100)",
                                      t.cutoff_writeback_sync, t.cutoff_writeback));
    return ok();
}

}  // namespace bcl
