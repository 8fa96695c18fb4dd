#include "identities.h"

#include "inode_table.h"

namespace bcl {

Result<FileKey> Identities::key_of(const Inode& parent, const char* name, mode_t type, const FileKey& backing) {
    if (!by_path() || !has_id(type)) return backing;
    auto id = names_->id_of(parent.key.ino, name, type & S_IFMT);
    if (!id) return id.error();
    return FileKey{kPathIdentityDev, id.value()};
}

Result<std::optional<FileKey>> Identities::find(const Inode& parent, const char* name, mode_t type,
                                                const FileKey& backing) {
    using Found = std::optional<FileKey>;
    if (!by_path()) return Found(backing);
    if (!has_id(type)) return Found();
    auto id = names_->find(parent.key.ino, name, type & S_IFMT);
    if (!id) return id.error();
    if (!id.value()) return Found();
    return Found(FileKey{kPathIdentityDev, *id.value()});
}

Status Identities::renamed(const Inode& from, const char* name, const Inode& to, const char* newname, bool exchange) {
    if (!by_path()) return ok();
    return names_->rename(from.key.ino, name, to.key.ino, newname, exchange);
}

Status Identities::removed(const Inode& parent, const char* name) {
    if (!by_path()) return ok();
    return names_->remove(parent.key.ino, name);
}

}  // namespace bcl
