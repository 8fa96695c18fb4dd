// The bypass tunables (cache/sequential.h) as people type them, shared by
// the mount options (sequential_cutoff=8M) and the settable extended
// attributes of the mount root (setfattr -n
// user.bcachefs_lite.sequential_cutoff -v 0), as promotion_values.h does
// for the promotion tunables: sequential_cutoff is a size (4096, 512K, 4M;
// 0 turns sequential bypass off, at most 4 GiB - 1), the congestion
// thresholds whole microseconds (0 turns the check off). They are read
// back as decimal numbers.
//
// Thread safety: pure functions; the table is immutable.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "bcachefs_lite/cache/sequential.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// Errc::invalid, one line naming the tunable, on text that is not a value
// of its kind or out of range; `tunables` is unchanged then.
Status parse_sequential_cutoff(BypassTunables& tunables, std::string_view text);
Status parse_congested_read_threshold_us(BypassTunables& tunables, std::string_view text);
Status parse_congested_write_threshold_us(BypassTunables& tunables, std::string_view text);

struct BypassTunableText {
    std::string_view name;
    Status (*parse)(BypassTunables& tunables, std::string_view text);
    std::string (*format)(const BypassTunables& tunables);  // decimal text
};

// Every bypass tunable, in the order the documentation lists them.
std::span<const BypassTunableText> bypass_tunable_texts();
// The tunable named `name` (without any prefix), or null.
const BypassTunableText* find_bypass_tunable(std::string_view name);

}  // namespace bcl
