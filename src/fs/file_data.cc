#include "bcachefs_lite/fs/file_data.h"

#include <fcntl.h>
#include <unistd.h>

#include "bcachefs_lite/util/direct_io.h"

namespace bcl {

FileData::Handle::Handle(BackingFile& backing, int flags) : backing_(backing) {
    if ((flags & O_DIRECT) != 0 && (flags & O_ACCMODE) != O_RDONLY) direct_fd_ = open_direct_twin(backing.opened());
}

FileData::Handle::~Handle() {
    if (direct_fd_ >= 0) ::close(direct_fd_);
}

}  // namespace bcl
