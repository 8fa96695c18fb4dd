// Writes to a backing file that honour the caller's O_DIRECT. The daemon's
// own descriptor of a backing file is buffered: its reads and unaligned
// writes need no aligned buffers from the caller. A caller that opened the
// file with O_DIRECT asked for its writes to reach the store rather than
// the page cache; on a slow store a buffered write would return at memory
// speed, long before the store has it. Such a caller's aligned writes go
// through a second descriptor of the file, open with O_DIRECT.
//
// Thread safety: stateless.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "bcachefs_lite/util/error.h"

namespace bcl {

// What an O_DIRECT write must be aligned to (offset, length and memory):
// the largest logical block size in common use, so any store takes it.
inline constexpr std::size_t kDirectAlignment = 4096;

// A new write-only O_DIRECT descriptor of the file open as fd (the caller
// closes it); -1 when the file's file system refuses O_DIRECT.
int open_direct_twin(int fd);

// Writes all of data at offset: through direct_fd when it is not -1 and
// offset and length are multiples of kDirectAlignment (through an aligned
// copy if data is not aligned in memory), else, or when the file system
// refuses the direct write with EINVAL, through fd. Returns the bytes
// written; an error only when nothing was written.
Result<std::size_t> pwrite_all(int fd, int direct_fd, std::uint64_t offset, std::span<const std::byte> data);

}  // namespace bcl
