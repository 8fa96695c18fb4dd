// MetadataNotice: tells FileData of a change of a regular file's metadata
// made through the mount (rename, link, chmod, chown, utimens), with the
// file's statx taken just before the operation (at construction or
// restart()) and just after it (finish()), both through one descriptor of
// the file itself, so that a name changing meanwhile cannot mix up files.
// FileData needs both to tell this change apart from one made behind the
// cache's back (file_data.h, metadata_changed).
//
// Nothing is reported for other file types, when a statx fails, or when
// the statx after shows the same size, mtime and ctime as before. The file
// is reported under the key the fs layer knows it by (identify_as()).
//
// Thread safety: a value used by one request on one thread.
#pragma once

#include <sys/stat.h>

#include <optional>

#include "bcachefs_lite/fs/file_data.h"
#include "unique_fd.h"

namespace bcl {

class MetadataNotice {
public:
    // Watches the file open as `fd` (borrowed: it must stay open until the
    // notice is finished or destroyed).
    MetadataNotice(FileData& data, int fd);
    // Watches the file `name` in directory `dirfd`, not following a symlink,
    // through an O_PATH descriptor opened now and owned by the notice.
    MetadataNotice(FileData& data, int dirfd, const char* name);
    // Finishes (reports) if still watching.
    ~MetadataNotice() { finish(); }
    MetadataNotice(const MetadataNotice&) = delete;
    MetadataNotice& operator=(const MetadataNotice&) = delete;

    // The statx taken before (of any file type); empty when the file could
    // not be reached.
    const std::optional<struct statx>& before() const { return before_; }

    // Takes the statx after and reports the change; stops watching.
    void finish();
    // Stops watching without reporting (the file lost its name instead).
    void cancel() { watching_ = false; }
    // Watches again from now: for a request that changed the data in
    // between through FileData, which reported that change itself.
    void restart();
    // Reports the file under `key`, the key the fs layer knows it by
    // (InodeTable), instead of its backing (st_dev, st_ino); with none,
    // the engine holds nothing of the file and nothing is reported.
    void identify_as(const std::optional<FileKey>& key) {
        key_ = key;
        silent_ = !key;
        if (silent_) watching_ = false;
    }

private:
    FileData& data_;
    UniqueFd owned_;
    int fd_ = -1;
    std::optional<struct statx> before_;
    bool watching_ = false;       // a regular file with a valid before_
    std::optional<FileKey> key_;  // as identify_as() says; none: the backing key
    bool silent_ = false;         // identify_as() gave no key: never report
};

}  // namespace bcl
