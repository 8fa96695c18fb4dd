// PassthroughData: FileData on the backing files alone (mode=none). Reads
// reply with a descriptor segment of the backing file, which the kernel
// splices; writes are copied (or spliced) from the request straight into the
// backing file.
//
// Thread safety: stateless apart from the handles; every call may run
// concurrently with any other.
#pragma once

#include "bcachefs_lite/fs/file_data.h"

namespace bcl {

class PassthroughData final : public FileData {
public:
    Result<std::unique_ptr<Handle>> open(BackingFile& backing, const struct statx& stx, int flags) override;
    Result<DataVec> read(Handle& handle, std::uint64_t offset, std::size_t size) override;
    Result<std::size_t> write(Handle& handle, std::uint64_t offset, const DataVec& data) override;
    Status flush(Handle& handle) override;
    Status fsync(Handle& handle, bool datasync) override;
    Status truncate(Handle* handle, int path_fd, std::uint64_t size) override;
    Status fallocate(Handle& handle, int mode, std::uint64_t offset, std::uint64_t length) override;
    Result<std::uint64_t> seek_data(Handle& handle, std::uint64_t offset, int whence) override;
    Result<std::size_t> copy_file_range(Handle& in, std::uint64_t offset_in, Handle& out, std::uint64_t offset_out,
                                        std::size_t length, unsigned flags) override;
    void release(std::unique_ptr<Handle> handle) override;
    void unlinked(const FileKey& key, nlink_t links_left) override;
    void metadata_changed(const FileKey& key, const struct statx& before, const struct statx& after) override;
};

}  // namespace bcl
