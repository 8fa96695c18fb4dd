// Open files: open, create, read, write_buf, flush, release, fsync,
// fallocate, lseek, copy_file_range. Every data operation goes through the
// FileData seam (state.data); this file only opens and closes the backing
// descriptors and converts buffers.
//
// Writes, flush, fsync, fallocate, lseek and copy_file_range call the
// backing file in every mode (a dirty write too: it takes the new size
// and mtime). While a call on the backing hangs they fail at once with
// ETIMEDOUT instead of joining it. Writes (at most a request's 1 MiB),
// fallocate and lseek are calls in flight themselves (backing_call): one
// that hangs past backing_timeout takes the link down. fsync, the flush at
// close and copy_file_range are not timed so (refused_while_hanging):
// they may take long on a slow backing that answers, sending out a large
// file's data. Reads see to the link themselves (cache/io/read_path.cc).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "bufvec.h"
#include "ops.h"
#include "ops_common.h"
#include "os_error.h"

namespace bcl {
namespace {

// ETIMEDOUT while a call on the backing hangs, for the calls above that
// are not timed.
Status refused_while_hanging(State& state) { return backing_hangs(state) ? os_error(ETIMEDOUT) : ok(); }

// Flags for the backing descriptor. O_CREAT/O_EXCL were handled by create;
// O_DIRECT would demand aligned buffers of the daemon for every read (the
// kernel side bypasses its page cache through direct_io; the seam is told
// of O_DIRECT and sends aligned writes past the backing page cache itself);
// O_TRUNC goes through FileData::truncate; O_NOFOLLOW does not apply to a
// /proc/self/fd reopen.
constexpr int kStrippedFlags = O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT | O_TRUNC | O_NOFOLLOW;

int backing_flags(int flags) { return (flags & ~kStrippedFlags) | O_CLOEXEC; }

void fill_open_reply(const State& state, fuse_file_info* fi, OpenFile* file) {
    fi->fh = reinterpret_cast<std::uint64_t>(file);
    fi->keep_cache = state.options.kernel_cache ? 1 : 0;
    fi->direct_io = (fi->flags & O_DIRECT) ? 1 : 0;
}

// The backing file is opened as the caller, with the caller's access mode:
// the backing decides whether the caller may read or write it, and every
// later read and write of this handle, hit or miss, is within what that
// open allowed.
//
// A read-only open by a caller whose earlier open of the file the backing
// allowed within the coherency window is answered without the backing
// (open_granted); the backing file is opened, as that caller, only when a
// read needs it.
Result<std::unique_ptr<OpenFile>> do_open(fuse_req_t req, State& state, fuse_ino_t ino, int flags) {
    Inode& inode = state.inodes.get(ino);
    int open_flags = backing_flags(flags);
    std::optional<CallerId> reader;
    // O_NOATIME is allowed to the owner only: the grant of an open without
    // it says nothing about one with it.
    if ((flags & O_ACCMODE) == O_RDONLY && (flags & (O_TRUNC | O_NOATIME)) == 0 && S_ISREG(inode.type)) {
        reader = CallerCreds::caller_of(req, state.own());
        if (auto file = open_granted(state, inode, *reader, open_flags | (flags & O_DIRECT))) return file;
        // While the backing hangs, what the cache holds first.
        if (backing_hangs(state)) {
            if (auto file = open_granted(state, inode, *reader, open_flags | (flags & O_DIRECT), true)) return file;
        }
    }
    UniqueFd fd;
    int err;
    {
        auto creds = backing_call_as_caller(req);
        if (!creds) return creds.error();
        fd.reset(::open(ProcPath(inode.fd.get()).c_str(), open_flags));
        err = fd.valid() ? 0 : errno;  // read before the creds are restored
    }
    if (err != 0) {
        const Error error = os_error(err);
        // While the backing does not answer, a reader it let open the file
        // before reads what the cache holds of it.
        if (reader && backing_gone(state, error)) {
            if (auto file = open_granted(state, inode, *reader, open_flags | (flags & O_DIRECT), true)) return file;
        }
        return error;
    }
    state.data.backing_answered();
    return attach(state, inode, std::move(fd), open_flags | (flags & O_DIRECT), (flags & O_TRUNC) != 0,
                  reader ? &*reader : nullptr);
}

struct Created {
    fuse_entry_param entry;
    std::unique_ptr<OpenFile> file;
};

Result<Created> do_create(fuse_req_t req, State& state, fuse_ino_t parent, const char* name, mode_t mode, int flags) {
    Inode& dir = state.inodes.get(parent);
    int open_flags = backing_flags(flags) | O_CREAT | O_NOFOLLOW;
    UniqueFd fd;
    {
        auto creds = backing_call_as_caller(req);
        if (!creds) return creds.error();
        fd.reset(::openat(dir.fd.get(), name, open_flags, mode));
        const int err = fd.valid() ? 0 : errno;
        name_changed(state, dir, name);
        if (err != 0) return os_error(err);
    }
    const std::uint64_t generation = state.inodes.names_generation();
    const std::int64_t now = CoherencyWindow::now_ns();
    // The inode's O_PATH descriptor comes from the open file itself, so it
    // names the file created even if the name was replaced meanwhile.
    UniqueFd path_fd(::open(ProcPath(fd.get()).c_str(), O_PATH | O_CLOEXEC));
    if (!path_fd.valid()) return last_os_error();
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return last_os_error();
    auto added = add_named_inode(state, dir, name, st, std::move(path_fd), "create");
    if (!added) return added.error();
    Inode& inode = *added.value();
    state.inodes.remember(dir, name, inode, now, generation);
    // Before the engine opens it: a file pinned at birth is opened pinned.
    state.stats.created(dir.key, dir.fd.get(), inode.key, inode.fd.get());
    Created created{};
    created.entry.ino = state.inodes.ino_of(inode);
    created.entry.attr = st;
    created.entry.attr_timeout = state.options.attr_timeout_seconds();
    created.entry.entry_timeout = state.options.entry_timeout_seconds();
    auto file = attach(state, inode, std::move(fd), (open_flags & ~(O_CREAT | O_NOFOLLOW)) | (flags & O_DIRECT), false);
    if (!file) {
        state.inodes.forget(inode, 1);
        return file.error();
    }
    created.file = std::move(file.value());
    return created;
}

Result<std::size_t> do_write_buf(State& state, fuse_bufvec* in_buf, off_t off, fuse_file_info* fi) {
    auto call = backing_call(state);
    if (!call) return call.error();
    DataVec data = data_vec_from_fuse(*in_buf);
    OpenFile& file = open_file_of(fi);
    auto written = state.data.write(*file.data, static_cast<std::uint64_t>(off), data);
    data_changed(state, *file.inode);
    return written;
}

}  // namespace

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    State& state = state_of(req);
    // Only O_TRUNC changes attributes (attr_cache.h).
    std::optional<ChangeEpoch::Scope> truncating;
    if (fi->flags & O_TRUNC) truncating.emplace(state.changes);
    auto file = do_open(req, state, ino, fi->flags);
    if (!file) return reply_error(req, file.error());
    OpenFile* raw = file.value().release();
    fill_open_reply(state, fi, raw);
    if (fuse_reply_open(req, fi) != 0) release_file(state, raw);  // interrupted: no release will come
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
    State& state = state_of(req);
    auto created = do_create(req, state, parent, name, mode, fi->flags);
    if (!created) return reply_error(req, created.error());
    OpenFile* raw = created.value().file.release();
    fill_open_reply(state, fi, raw);
    if (fuse_reply_create(req, &created.value().entry, fi) != 0) {
        state.inodes.forget(*raw->inode, 1);
        release_file(state, raw);
    }
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    State& state = state_of(req);
    auto data = state.data.read(*open_file_of(fi).data, static_cast<std::uint64_t>(off), size);
    if (!data) return reply_error(req, data.error());
    if (data.value().empty()) {
        fuse_reply_buf(req, nullptr, 0);
        return;
    }
    BufvecPtr vec = to_fuse_bufvec(data.value());
    if (!vec) return reply_error(req, os_error(ENOMEM));
    fuse_reply_data(req, vec.get(), FUSE_BUF_SPLICE_MOVE);
}

void op_write_buf(fuse_req_t req, fuse_ino_t, fuse_bufvec* in_buf, off_t off, fuse_file_info* fi) {
    auto written = do_write_buf(state_of(req), in_buf, off, fi);
    if (!written) return reply_error(req, written.error());
    fuse_reply_write(req, written.value());
}

void op_flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    State& state = state_of(req);
    OpenFile& file = open_file_of(fi);
    // A handle that never opened its backing file flushes nothing: its
    // close must not fail while the backing hangs.
    if (file.data->backing().opened() >= 0)
        if (Status hangs = refused_while_hanging(state); !hangs) return reply_error(req, hangs.error());
    reply_status(req, state.data.flush(*file.data));
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    release_file(state_of(req), &open_file_of(fi));
    fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
    State& state = state_of(req);
    if (Status hangs = refused_while_hanging(state); !hangs) return reply_error(req, hangs.error());
    reply_status(req, state.data.fsync(*open_file_of(fi).data, datasync != 0));
}

void op_fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length, fuse_file_info* fi) {
    if (offset < 0 || length <= 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    State& state = state_of(req);
    auto call = backing_call(state);
    if (!call) return reply_error(req, call.error());
    OpenFile& file = open_file_of(fi);
    Status done =
        state.data.fallocate(*file.data, mode, static_cast<std::uint64_t>(offset), static_cast<std::uint64_t>(length));
    data_changed(state, *file.inode);
    reply_status(req, done);
}

void op_lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
    if ((whence != SEEK_DATA && whence != SEEK_HOLE) || off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    State& state = state_of(req);
    auto call = backing_call(state);
    if (!call) return reply_error(req, call.error());
    auto found = state.data.seek_data(*open_file_of(fi).data, static_cast<std::uint64_t>(off), whence);
    if (!found) return reply_error(req, found.error());
    fuse_reply_lseek(req, static_cast<off_t>(found.value()));
}

void op_copy_file_range(fuse_req_t req, fuse_ino_t, off_t off_in, fuse_file_info* fi_in, fuse_ino_t, off_t off_out,
                        fuse_file_info* fi_out, size_t len, int flags) {
    State& state = state_of(req);
    if (Status hangs = refused_while_hanging(state); !hangs) return reply_error(req, hangs.error());
    OpenFile& out = open_file_of(fi_out);
    auto copied = state.data.copy_file_range(*open_file_of(fi_in).data, static_cast<std::uint64_t>(off_in), *out.data,
                                             static_cast<std::uint64_t>(off_out), len, static_cast<unsigned>(flags));
    data_changed(state, *out.inode);
    if (!copied) return reply_error(req, copied.error());
    fuse_reply_write(req, copied.value());
}

}  // namespace bcl
