// ReadGrants: the read-only opens of one inode that a real open of its
// backing file allowed, each with the file as that open found it, so that
// another read-only open by the same caller within the coherency window is
// answered without the backing directory (FileData::open_checked), as NFS
// answers ACCESS from its access cache for actimeo seconds. The backing
// decided each grant; the window bounds how long it stands. Dropped when
// the inode's mode, owner or extended attributes (ACLs) change through the
// mount.
//
// Thread safety: every call may come from any request thread.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "caller_creds.h"

namespace bcl {

class ReadGrants {
public:
    struct Grant {
        struct statx stx;         // the file as the open found it, under the inode's key
        std::int64_t checked_ns;  // when (CoherencyWindow::now_ns), taken before the statx
    };

    // The latest grant of `caller`, if any.
    std::optional<Grant> find(const CallerId& caller) const;
    // Records a read-only open by `caller`; replaces its older grant, or the
    // oldest one when kMaxCallers are known.
    void add(const CallerId& caller, const Grant& grant);
    void clear();

    static constexpr std::size_t kMaxCallers = 4;

private:
    struct Entry {
        CallerId caller;
        Grant grant;
    };
    mutable std::mutex mutex_;
    std::vector<Entry> entries_;  // guarded by mutex_
};

}  // namespace bcl
