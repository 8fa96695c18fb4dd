// Directory streams: opendir, readdir, readdirplus, releasedir, fsyncdir.
// readdirplus looks every entry up (one lookup each, as the kernel counts
// them) and takes the lookup back when the entry does not fit the reply.
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <vector>

#include "ops.h"
#include "ops_common.h"
#include "os_error.h"

namespace bcl {
namespace {

bool is_dot_or_dotdot(const char* name) {
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

// Opened as the caller: listing needs read permission on the backing.
// Reopened through /proc: openat(fd, ".") would need search permission
// too, which listing does not.
Result<std::unique_ptr<DirHandle>> do_opendir(fuse_req_t req, State& state, fuse_ino_t ino) {
    const Inode& inode = state.inodes.get(ino);
    int fd;
    {
        auto creds = as_caller(req);
        if (!creds) return creds.error();
        fd = ::open(ProcPath(inode.fd.get()).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return last_os_error();
    }
    auto handle = std::make_unique<DirHandle>();
    handle->dir = ::fdopendir(fd);
    if (!handle->dir) {
        Error error = last_os_error();
        ::close(fd);
        return error;
    }
    return handle;
}

// Fills `buf` with the entries from `off` on; returns the bytes used.
Result<std::size_t> do_readdir(fuse_req_t req, fuse_ino_t ino, off_t off, fuse_file_info* fi, bool plus,
                               std::vector<char>& buf) {
    State& state = state_of(req);
    Inode& dir = state.inodes.get(ino);
    DirHandle& handle = dir_handle_of(fi);
    std::lock_guard lock(handle.mutex);
    // readdirplus looks every entry up as the caller: in a directory it may
    // read but not search, it gets the names without their attributes, as
    // from the backing.
    auto creds = as_caller(req);
    if (!creds) return creds.error();
    if (off != handle.offset) {
        ::seekdir(handle.dir, off);
        handle.entry = nullptr;
        handle.offset = off;
    }
    char* p = buf.data();
    std::size_t rem = buf.size();
    for (;;) {
        if (!handle.entry) {
            errno = 0;
            handle.entry = ::readdir(handle.dir);
            if (!handle.entry) {
                if (errno != 0 && rem == buf.size()) return last_os_error();
                break;  // end of directory, or an error after some entries
            }
        }
        const struct dirent* ent = handle.entry;
        std::size_t size;
        if (plus) {
            fuse_entry_param e{};
            bool counted = false;
            if (!is_dot_or_dotdot(ent->d_name)) {
                auto entry = lookup_entry(state, dir, ent->d_name);
                if (entry) {
                    e = entry.value();
                    counted = true;
                } else if (entry.error().sys_errno == ENOENT) {  // removed since readdir saw it
                    handle.offset = ent->d_off;
                    handle.entry = nullptr;
                    continue;
                } else if (entry.error().sys_errno != EACCES) {
                    if (rem == buf.size()) return entry.error();
                    break;
                }
            }
            if (!counted) {
                // ".", "..", or an entry the caller may not look up: the
                // name and type alone, without attributes.
                e.attr.st_ino = ent->d_ino;
                e.attr.st_mode = DTTOIF(ent->d_type);
            }
            size = fuse_add_direntry_plus(req, p, rem, ent->d_name, &e, ent->d_off);
            if (size > rem) {
                if (counted) state.inodes.forget(state.inodes.get(e.ino), 1);
                break;
            }
        } else {
            struct stat st {};
            st.st_ino = ent->d_ino;
            st.st_mode = DTTOIF(ent->d_type);
            size = fuse_add_direntry(req, p, rem, ent->d_name, &st, ent->d_off);
            if (size > rem) break;
        }
        p += size;
        rem -= size;
        handle.offset = ent->d_off;
        handle.entry = nullptr;
    }
    return buf.size() - rem;
}

void reply_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi, bool plus) {
    std::vector<char> buf(size);
    auto used = do_readdir(req, ino, off, fi, plus, buf);
    if (!used) return reply_error(req, used.error());
    fuse_reply_buf(req, buf.data(), used.value());
}

}  // namespace

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    auto handle = do_opendir(req, state_of(req), ino);
    if (!handle) return reply_error(req, handle.error());
    fi->fh = reinterpret_cast<std::uint64_t>(handle.value().get());
    if (fuse_reply_open(req, fi) == 0) handle.value().release();  // now owned through fi->fh
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    reply_readdir(req, ino, size, off, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    reply_readdir(req, ino, size, off, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    delete &dir_handle_of(fi);
    fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
    DirHandle& handle = dir_handle_of(fi);
    int fd = ::dirfd(handle.dir);
    int r = datasync ? ::fdatasync(fd) : ::fsync(fd);
    fuse_reply_err(req, r == 0 ? 0 : errno);
}

}  // namespace bcl
