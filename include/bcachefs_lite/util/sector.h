// The 512-byte sector: the unit of device offsets in buckets and extents,
// shared by the device and index layers (one definition, so both headers can
// be included together).
//
// Thread safety: constants.
#pragma once

#include <cstdint>

namespace bcl {

inline constexpr std::uint64_t kSectorSize = 512;
inline constexpr std::uint32_t kSectorShift = 9;

}  // namespace bcl
