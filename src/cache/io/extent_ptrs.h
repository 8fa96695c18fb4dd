// The pointers of an allocation as the copies of an extent, and back: one
// extent pointer per allocated bucket (one per device), all with the
// allocation's data layout.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "bcachefs_lite/alloc/alloc_types.h"
#include "bcachefs_lite/alloc/open_buckets.h"
#include "bcachefs_lite/index/extent_format.h"

namespace bcl {

inline ExtentPtr extent_ptr_of(const AllocPtr& p) {
    return ExtentPtr{static_cast<std::uint8_t>(p.dev), p.bucket, p.gen, p.offset};
}

// A new extent over the allocation's first `length` bytes, one copy per
// pointer (at most kMaxExtentPtrs).
inline ExtentValue extent_value_of(const SectorAlloc& a, std::uint64_t length, std::uint32_t data_crc, bool dirty) {
    const AllocPtr& p = a.ptrs.ptr[0];
    ExtentValue v =
        make_extent_value(length, static_cast<std::uint8_t>(p.dev), p.bucket, p.gen, p.offset, data_crc, dirty);
    for (unsigned i = 1; i < a.ptrs.nptrs && i < kMaxExtentPtrs; ++i) v.set_ptr(i, extent_ptr_of(a.ptrs.ptr[i]));
    return v;
}

// Bit d set for every device d the extent has a copy on.
inline std::uint32_t devices_of(const ExtentValue& v) {
    std::uint32_t mask = 0;
    for (unsigned i = 0; i < v.nptrs(); ++i)
        if (v.ptr(i).device < 32) mask |= 1u << v.ptr(i).device;
    return mask;
}

}  // namespace bcl
