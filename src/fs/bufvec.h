// Conversions between DataVec (the FileData seam's fuse-free buffers) and
// libfuse's fuse_bufvec.
#pragma once

#include <cstdlib>
#include <memory>
#include <span>

#include "bcachefs_lite/fs/data_vec.h"
#include "bcachefs_lite/util/error.h"
#include "fuse_api.h"

namespace bcl {

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};
using BufvecPtr = std::unique_ptr<fuse_bufvec, FreeDeleter>;

// A fuse_bufvec with one buffer per segment (at least one); descriptor
// segments become FUSE_BUF_IS_FD buffers, seekable ones with FUSE_BUF_FD_SEEK.
// Null when out of memory. It borrows from `data`, which must outlive it.
BufvecPtr to_fuse_bufvec(const DataVec& data);

// A DataVec borrowing the unread part of `in` (from in.idx and in.off).
DataVec data_vec_from_fuse(const fuse_bufvec& in);

// Copies all of `data` (memory, descriptor ranges, pipes) into `out`,
// which holds exactly data.size() bytes. A pipe segment is consumed.
// EIO when a descriptor ended early.
Status copy_to_memory(const DataVec& data, std::span<std::byte> out);

}  // namespace bcl
