#include "superblock_dirty_flag.h"

#include "bcachefs_lite/device/format.h"

namespace bcl {

SuperblockDirtyFlag::SuperblockDirtyFlag(BlockDevice& device, const Superblock& sb)
    : device_(device), sb_(sb), set_(sb.dirty()) {}

Status SuperblockDirtyFlag::mark() {
    if (is_set()) return ok();
    std::lock_guard lk(mutex_);
    return write_locked(true);
}

Status SuperblockDirtyFlag::clear() {
    std::lock_guard lk(mutex_);
    return write_locked(false);
}

Status SuperblockDirtyFlag::write_locked(bool dirty) {
    if (sb_.dirty() == dirty) return ok();
    Superblock next = sb_;
    next.flags = dirty ? (next.flags | kSbFlagDirty) : (next.flags & ~kSbFlagDirty);
    // A failed or torn write leaves the flag unknown: set_ keeps saying
    // "clear" after a failed mark(), so no dirty data follows it, and
    // "set" after a failed clear(), which errs on the safe side.
    BCL_TRY(rewrite_superblock(device_, next));
    sb_ = next;
    set_.store(dirty, std::memory_order_release);
    return ok();
}

}  // namespace bcl
