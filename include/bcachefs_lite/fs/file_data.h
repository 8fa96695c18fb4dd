// FileData: the one seam through which the fs layer moves file data. Every
// read, write, flush, fsync, truncate, fallocate, SEEK_DATA/SEEK_HOLE and
// copy_file_range of an open file goes through it; namespace operations
// (lookup, mkdir, rename, xattrs, ...) do not. PassthroughData
// (passthrough_data.h) implements it on the backing files alone; the cache
// engine takes it over by implementing it too.
//
// Contract
// - Descriptors. The fs layer opens the backing file (with the caller's
//   open(2) flags, minus O_CREAT/O_EXCL/O_NOCTTY and O_DIRECT; open() is
//   told of O_DIRECT in its flags) and owns it as a BackingFile
//   (backing_file.h), which it passes to open() and destroys only after
//   release() returned. When open_checked() answered the open, the
//   BackingFile opens the file only when Handle::fd() is first called.
//   An implementation must dup() the descriptor to keep it longer. The
//   O_PATH descriptor of an inode (truncate without an open file) belongs
//   to the fs layer and is valid only during the call.
// - Threads. Calls come from libfuse's worker threads, concurrently, also
//   for the same handle (reads and writes of one file may overlap; the
//   kernel orders nothing unless the application does). open() happens
//   before, and release() after, every other call for the same handle.
// - Errors are values: Error::to_errno() is what the application sees, so a
//   failed system call should be reported with its errno (sys_error()).
//   Short reads at end of file are not errors: read() returns fewer bytes.
// - Read replies. A DataVec returned by read() may point at descriptors and
//   memory that must stay valid until the DataVec is destroyed; the fs layer
//   sends the reply before destroying it.
// - Notifications (unlinked, metadata_changed) come after the operation
//   succeeded on the backing directory, from the thread that performed it.
//   metadata_changed is the fs layer's promise that the operation changed
//   metadata only, never data: an implementation that remembers a file's
//   mtime/ctime to detect changes behind its back may carry its knowledge
//   over from `before` to `after`, and must not if what it remembers no
//   longer matches `before` (a change behind its back that came first).
//
// Thread safety: implementations must be safe for concurrent calls as above.
#pragma once

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bcachefs_lite/cache/coherency_window.h"
#include "bcachefs_lite/fs/backing_file.h"
#include "bcachefs_lite/fs/data_vec.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

class BackingLink;

// A backing file as the fs layer names it to the engine: its (st_dev,
// st_ino), or under identity=path an id of its path (identity.h).
struct FileKey {
    dev_t dev = 0;
    ino_t ino = 0;
    auto operator<=>(const FileKey&) const = default;
};

inline FileKey file_key_of(const struct statx& stx) {
    return FileKey{makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino};
}

// `stx` with its device and inode number replaced by `key`: a file as the
// fs layer hands it to the engine, under the key it knows the file by
// (identity=path gives keys of its own; see InodeTable).
inline struct statx with_key(struct statx stx, const FileKey& key) {
    stx.stx_dev_major = major(key.dev);
    stx.stx_dev_minor = minor(key.dev);
    stx.stx_ino = key.ino;
    return stx;
}

class FileData {
public:
    // One open file. Implementations derive from it to keep their state.
    class Handle {
    public:
        // `flags`: the open flags of the caller. With O_DIRECT and write
        // access, the handle opens and owns a second, O_DIRECT descriptor
        // of the file for the writes that can go past the page cache
        // (util/direct_io.h); such an open always has its descriptor.
        explicit Handle(BackingFile& backing, int flags = 0);
        virtual ~Handle();
        Handle(const Handle&) = delete;
        Handle& operator=(const Handle&) = delete;
        // The backing descriptor, owned by the fs layer (see the contract);
        // opened now if the open was answered without it.
        Result<int> fd() { return backing_.fd(); }
        BackingFile& backing() { return backing_; }
        // The O_DIRECT descriptor, or -1.
        int direct_fd() const { return direct_fd_; }

    private:
        BackingFile& backing_;
        int direct_fd_ = -1;
    };

    virtual ~FileData() = default;
    // How long a check of a file against the backing stands (the actimeo
    // tunable, which may change at run time); null when the implementation
    // keeps none, and the mount's actimeo then stands.
    virtual const CoherencyWindow* coherency_window() const { return nullptr; }

    // A file was opened (or created). `stx` is the file's statx at open time
    // (basic stats and, where the file system has it, the birth time);
    // `flags` are the open(2) flags the backing descriptor was opened with,
    // plus the caller's O_DIRECT.
    virtual Result<std::unique_ptr<Handle>> open(BackingFile& backing, const struct statx& stx, int flags) = 0;

    // A read-only open answered without opening the backing file: `stx` is
    // the file as a real open of it found it at `checked_ns`
    // (CoherencyWindow::now_ns). Null when that check is not recent enough
    // or the file is no longer what it showed, which the implementation
    // decides; the caller then opens the backing file and calls open().
    virtual Result<std::unique_ptr<Handle>> open_checked(BackingFile& backing, const struct statx& stx,
                                                         std::int64_t checked_ns, int flags) {
        (void)backing, (void)stx, (void)checked_ns, (void)flags;
        return std::unique_ptr<Handle>();
    }

    // A read-only open answered while the backing directory does not answer
    // (the backing's open failed with an error that says so): `stx` is the
    // file, under its key, as an earlier real open found it. Null when the
    // implementation cannot serve the file so (the backing answers, or what
    // it knows of the file no longer matches `stx`); the caller then fails
    // the open with the backing's error. The handle's reads serve only
    // what can be served without the backing file.
    virtual Result<std::unique_ptr<Handle>> open_offline(BackingFile& backing, const struct statx& stx, int flags) {
        (void)backing, (void)stx, (void)flags;
        return std::unique_ptr<Handle>();
    }

    // What the fs layer's own calls on the backing directory (lookup,
    // getattr, open) met: an error, for an implementation that tells a
    // backing that stopped answering from one bad file, or a success.
    virtual void backing_failed(const Error& e) { (void)e; }
    virtual void backing_answered() {}
    // Whether the backing directory answers, and its calls in flight, for
    // an implementation that keeps it; null otherwise, and the fs layer
    // then tracks nothing and always asks the backing.
    virtual BackingLink* backing_link() { return nullptr; }

    // What the fs layer keeps of itself across mounts (its read grants):
    // saved under `name` when a mount ends cleanly, read back by the next
    // one, for an implementation that keeps anything across mounts. Losing
    // it costs only backing calls that the next mount makes again.
    virtual Status save_state(std::string_view name, std::string_view bytes) {
        (void)name, (void)bytes;
        return ok();
    }
    virtual Result<std::optional<std::string>> saved_state(std::string_view name) {
        (void)name;
        return std::optional<std::string>();
    }

    // Up to `size` bytes at `offset`; fewer at end of file.
    virtual Result<DataVec> read(Handle& handle, std::uint64_t offset, std::size_t size) = 0;

    // Writes all of `data` at `offset` (at end of file for O_APPEND files);
    // returns the number of bytes written.
    virtual Result<std::size_t> write(Handle& handle, std::uint64_t offset, const DataVec& data) = 0;

    // close(2) of one descriptor of the file (flush may come several times).
    virtual Status flush(Handle& handle) = 0;

    // fsync(2)/fdatasync(2): returns once the data is durable in the mode's
    // sense (see DESIGN.md, invariant 3).
    virtual Status fsync(Handle& handle, bool datasync) = 0;

    // Sets the file's size: through `handle` when the application truncated
    // an open file (ftruncate), else through `path_fd`, the inode's O_PATH
    // descriptor (truncate(2), open with O_TRUNC).
    virtual Status truncate(Handle* handle, int path_fd, std::uint64_t size) = 0;

    // fallocate(2) with its mode bits (KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE, ...).
    virtual Status fallocate(Handle& handle, int mode, std::uint64_t offset, std::uint64_t length) = 0;

    // lseek(2) with SEEK_DATA or SEEK_HOLE: the offset found.
    virtual Result<std::uint64_t> seek_data(Handle& handle, std::uint64_t offset, int whence) = 0;

    // copy_file_range(2) between two open files of this mount.
    virtual Result<std::size_t> copy_file_range(Handle& in, std::uint64_t offset_in, Handle& out,
                                                std::uint64_t offset_out, std::size_t length, unsigned flags) = 0;

    // The last descriptor of this open file was closed. The handle is
    // destroyed by the callee; the fs layer closes the backing descriptor
    // after this returns.
    virtual void release(std::unique_ptr<Handle> handle) = 0;

    // A name of the file `key` was removed (unlink, rmdir, or replaced by a
    // rename); `links_left` is its link count afterwards. Open handles stay
    // valid.
    virtual void unlinked(const FileKey& key, nlink_t links_left) = 0;

    // The regular file `key` had its metadata changed through the mount, its
    // data untouched: renamed (either file of a RENAME_EXCHANGE too), linked,
    // or chmod, chown, utimens (setattr without a size change). `before` and
    // `after` are its statx (basic stats and, where the file system has it,
    // birth time) taken just before and just after the operation, through
    // the inode's own descriptor. Called once the operation has returned,
    // also when it failed part-way (then `after` may equal `before`).
    virtual void metadata_changed(const FileKey& key, const struct statx& before, const struct statx& after) = 0;
};

}  // namespace bcl
