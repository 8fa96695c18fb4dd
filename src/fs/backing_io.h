// Data operations on a backing file's descriptor, shared by every FileData
// implementation: whatever the cache does, these reach the backing file the
// same way.
//
// Thread safety: stateless; safe wherever the descriptor may be used.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bcachefs_lite/fs/data_vec.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// Writes all of `data` at `offset` of fd (spliced when `data` holds a
// pipe); aligned writes through direct_fd instead when it is not -1
// (util/direct_io.h).
Result<std::size_t> backing_write(int fd, int direct_fd, std::uint64_t offset, const DataVec& data);
// What the application's close(2) would do to the backing file: closing a
// duplicate lets the backing file system flush and report (NFS does).
Status backing_flush(int fd);
Status backing_fsync(int fd, bool datasync);
// lseek(2) with SEEK_DATA or SEEK_HOLE.
Result<std::uint64_t> backing_seek_data(int fd, std::uint64_t offset, int whence);
Result<std::size_t> backing_copy_file_range(int fd_in, std::uint64_t offset_in, int fd_out, std::uint64_t offset_out,
                                            std::size_t length, unsigned flags);

}  // namespace bcl
