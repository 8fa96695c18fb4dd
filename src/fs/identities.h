// Identities: the key (FileKey) by which the fs layer names each inode to
// the engine and in its InodeTable (identity.h). Under identity=inode it is
// the backing (st_dev, st_ino) and nothing is recorded. Under identity=path
// a regular file or directory is (kPathIdentityDev, the id of its name in
// its parent directory; cache/name_table.h), the root is
// (kPathIdentityDev, kRootNameId), and other entries, which the cache
// never holds data of, keep their backing key. The request handlers tell
// it of renames and removals through the mount, after they succeeded on
// the backing.
//
// Thread safety: every member may be called from any thread (the
// NameTable locks itself).
#pragma once

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <optional>

#include "bcachefs_lite/cache/name_table.h"
#include "bcachefs_lite/fs/file_data.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

struct Inode;

// The device of every identity=path key: no device has it (major and minor
// all ones), so these keys never meet the (st_dev, st_ino) keys an
// identity=inode mount of the same cache recorded.
inline constexpr dev_t kPathIdentityDev = ~dev_t{0};

class Identities {
public:
    // `names` null: identity=inode.
    explicit Identities(NameTable* names) : names_(names) {}

    bool by_path() const { return names_ != nullptr; }

    // The root's key, given its backing key.
    FileKey root_key(const FileKey& backing) const {
        return by_path() ? FileKey{kPathIdentityDev, kRootNameId} : backing;
    }
    // The key of `name` in `parent`, an entry of `type` that is `backing`;
    // under identity=path a new id is recorded for a name seen first.
    Result<FileKey> key_of(const Inode& parent, const char* name, mode_t type, const FileKey& backing);
    // The key the engine may hold data under for `name` in `parent`, as
    // key_of() but recording nothing: none when identity=path has no id.
    Result<std::optional<FileKey>> find(const Inode& parent, const char* name, mode_t type, const FileKey& backing);
    // Links the key has left once the name is gone, of a file that had
    // `nlink` links: each name is its own file under identity=path.
    nlink_t links_left(nlink_t nlink, bool is_dir) const {
        if (by_path() || is_dir || nlink == 0) return 0;
        return nlink - 1;
    }
    // A rename through the mount (`exchange`: RENAME_EXCHANGE) succeeded.
    Status renamed(const Inode& from, const char* name, const Inode& to, const char* newname, bool exchange);
    // An unlink or rmdir through the mount succeeded.
    Status removed(const Inode& parent, const char* name);

private:
    static bool has_id(mode_t type) { return S_ISREG(type) || S_ISDIR(type); }

    NameTable* const names_;
};

}  // namespace bcl
