#include "devices/superblock_flags.h"

#include "bcachefs_lite/device/format.h"

namespace bcl {

SuperblockFlags::SuperblockFlags(BlockDevice& device, const Superblock& sb)
    : device_(device), sb_(sb), flags_(sb.flags) {}

Status SuperblockFlags::set(std::uint32_t flag) {
    if (has(flag)) return ok();
    std::lock_guard lk(mutex_);
    return write_locked(sb_.flags | flag);
}

Status SuperblockFlags::clear(std::uint32_t flag) {
    if (!has(flag)) return ok();
    std::lock_guard lk(mutex_);
    return write_locked(sb_.flags & ~flag);
}

Status SuperblockFlags::write_locked(std::uint32_t flags) {
    if (sb_.flags == flags) return ok();
    Superblock next = sb_;
    next.flags = flags;
    // A failed or torn write leaves the flags unknown; flags_ keeps the old
    // value: after a failed set() nothing relies on the flag, and a failed
    // clear() errs on the safe side.
    BCL_TRY(rewrite_superblock(device_, next));
    sb_ = next;
    flags_.store(flags, std::memory_order_release);
    return ok();
}

}  // namespace bcl
