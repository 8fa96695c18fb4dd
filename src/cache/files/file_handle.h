// File handles of backing files (name_to_handle_at(2), open_by_handle_at(2)):
// how writeback finds a file with dirty data again, also after a restart
// and whatever it was renamed to. Opening by handle needs
// CAP_DAC_READ_SEARCH and a file system that exports handles.
//
// Thread safety: pure functions over descriptors.
#pragma once

#include <sys/stat.h>

#include "bcachefs_lite/index/dirty_file_format.h"
#include "bcachefs_lite/index/file_format.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// The dirty-file record of the file open as fd, whose identity is id.
Result<DirtyFileRecord> file_handle_of(int fd, const FileIdentity& id);

// Opens the file `record` names, on the file system of root_fd, with
// `flags` (O_CLOEXEC is added). Errc::not_found when the file is gone
// (ESTALE, ENOENT).
Result<int> open_file_handle(int root_fd, const DirtyFileRecord& record, int flags);

// Whether files below root_fd can be found by handle, also after a
// restart: not on FUSE; elsewhere names the root and opens it again.
// Errc::unsupported with the reason when not.
Status check_file_handles(int root_fd);

}  // namespace bcl
