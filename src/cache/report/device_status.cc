#include "bcachefs_lite/cache/device_status.h"

#include <fmt/format.h>

#include "report/report.h"

namespace bcl {

namespace {

std::uint64_t percent_of(std::uint64_t part, std::uint64_t whole) { return whole == 0 ? 0 : part * 100 / whole; }

}  // namespace

std::string_view device_state_name(DeviceState state) {
    switch (state) {
    case DeviceState::working: return "working";
    case DeviceState::failed: return "failed";
    case DeviceState::missing: return "missing";
    }
    return "?";
}

std::string format_device_status(const std::vector<DeviceStatus>& devices) {
    constexpr std::string_view kRow = "{:<4} {:<8} {:<10} {:<7} {:<6} {:<6} {:<7} {}\n";
    std::string out = fmt::format(kRow, "dev", "state", "io_errors", "unused", "clean", "dirty", "pinned", "path");
    for (const DeviceStatus& d : devices) {
        const PriorityStats& b = d.buckets;
        out += fmt::format(kRow, d.dev_idx, device_state_name(d.state), d.io_errors,
                           fmt::format("{}%", percent_of(b.unused, b.buckets)),
                           fmt::format("{}%", percent_of(b.clean, b.buckets)),
                           fmt::format("{}%", percent_of(b.dirty, b.buckets)),
                           fmt::format("{}%", percent_of(b.pinned, b.buckets)), d.path.empty() ? "-" : d.path);
    }
    return out;
}

Result<std::vector<DeviceStatus>> device_status_of(const CacheCore& core) {
    std::vector<DeviceStatus> out;
    for (unsigned d = 0; d < core.devices.size(); ++d) {
        auto buckets = bcl::priority_stats(*core.alloc, d);
        if (!buckets) return buckets.error();
        DeviceStatus s;
        s.dev_idx = d;
        s.state = !core.device_present(d) ? DeviceState::missing
                  : core.device_usable(d) ? DeviceState::working
                                          : DeviceState::failed;
        if (s.state != DeviceState::missing) s.path = core.devices[d]->path();
        s.io_errors = core.devices[d]->io_errors().errors();
        s.buckets = buckets.value();
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace bcl
