// ReadGrants: the read-only opens of the mount's files that a real open of
// the backing file allowed, each with the file as that open found it, so
// that another read-only open of the file by the same caller within the
// coherency window is answered without the backing directory
// (FileData::open_checked), as NFS answers ACCESS from its access cache
// for actimeo seconds. The backing decided each grant; the window, which
// the engine checks, bounds how long it stands. Kept by the file's key, so
// grants outlive the kernel forgetting an inode (drop_caches, memory
// pressure), which is when a network backing costs most. A stat of the
// file that finds it unchanged renews them. A file's grants are dropped when
// its mode, owner or extended attributes (ACLs) change through the mount.
// A directory's grants are its real opendirs, for its listing
// (dir_listing.h). The grants outlive the mount too (save(), restore()):
// the next mount renews each with the first stat that finds its file
// unchanged, so that a warm tree after a remount is read without opening
// its files on the backing.
//
// Thread safety: every call may come from any request thread.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/fs/file_data.h"
#include "caller_creds.h"

namespace bcl {

class ReadGrants {
public:
    struct Grant {
        struct statx stx;         // the file as the open found it, under its key
        std::int64_t checked_ns;  // when (CoherencyWindow::now_ns), taken before the statx
    };

    // The latest grant of `caller` for the file `key`, if any.
    std::optional<Grant> find(const FileKey& key, const CallerId& caller) const;
    // Records a read-only open of `key` by `caller`; replaces that caller's
    // older grant, or the file's oldest one once kMaxCallers are known.
    void add(const FileKey& key, const CallerId& caller, const Grant& grant);
    // Drops the grants of `key`.
    void forget(const FileKey& key);
    // A stat of the file `key` begun at `checked_ns` found `st`: the grants
    // whose file it still is (same size, mtime, ctime and mode) stand from
    // then on, as NFS keeps its access cache while the attributes it checks
    // do not change. A change of mode, owner or ACL changes the ctime.
    void renew(const FileKey& key, const struct stat& st, std::int64_t checked_ns);

    // Every grant, as bytes for a later mount (FileData::save_state).
    std::string save() const;
    // Adds the grants `bytes` (save()) holds, as grants never checked
    // (checked_ns 0), which stand only once renew() finds their file
    // unchanged: when they were checked means nothing to this mount's
    // clock. Errc::corrupt, with nothing
    // added, when the bytes do not decode.
    Status restore(std::string_view bytes);

    // Callers remembered per file, and files: past kMaxFiles the table
    // starts afresh (grants only save round trips; losing them costs one
    // backing open per file).
    static constexpr std::size_t kMaxCallers = 4;
    static constexpr std::size_t kMaxFiles = 1 << 16;

private:
    struct Entry {
        CallerId caller;
        Grant grant;
    };
    mutable std::mutex mutex_;
    std::map<FileKey, std::vector<Entry>> files_;  // guarded by mutex_
};

}  // namespace bcl
