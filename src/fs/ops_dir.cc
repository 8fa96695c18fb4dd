// Directory streams: opendir, readdir, readdirplus, releasedir, fsyncdir.
// readdirplus looks every entry up (one lookup each, as the kernel counts
// them) and takes the lookup back when the entry does not fit the reply.
// A pass over the backing directory from its first entry to its end is kept
// as the directory's listing (dir_listing.h); within the coherency window
// an opendir by a caller the backing let list the directory then is served
// from it, and its entries from the remembered names, without a backing
// call.
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <optional>
#include <vector>

#include "ops.h"
#include "ops_common.h"
#include "os_error.h"

namespace bcl {
namespace {

bool is_dot_or_dotdot(const char* name) {
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

// A listing of `inode` to serve `caller` from, when both it and the
// caller's last real opendir of the directory are within the window, or
// of any age with `offline` (the backing does not answer).
std::shared_ptr<const DirListing> listing_for(State& state, const Inode& inode, const CallerId& caller,
                                              bool offline = false) {
    auto listing = inode.listing.get();
    if (!listing || !(offline || state.window.holds(listing->at_ns))) return nullptr;
    const auto grant = state.read_grants.find(inode.key, caller);
    if (!grant || !(offline || state.window.holds(grant->checked_ns))) return nullptr;
    return listing;
}

// Opened as the caller: listing needs read permission on the backing.
// Reopened through /proc: openat(fd, ".") would need search permission
// too, which listing does not.
Result<std::unique_ptr<DirHandle>> do_opendir(fuse_req_t req, State& state, fuse_ino_t ino) {
    Inode& inode = state.inodes.get(ino);
    auto handle = std::make_unique<DirHandle>(inode);
    const CallerId caller = CallerCreds::caller_of(req, state.own());
    if (auto listing = listing_for(state, inode, caller)) {
        handle->listing = std::move(listing);
        return handle;
    }
    // While the backing hangs, the last listing at any age first.
    if (backing_hangs(state)) {
        if (auto listing = listing_for(state, inode, caller, true)) {
            handle->listing = std::move(listing);
            return handle;
        }
    }
    const std::int64_t checked = CoherencyWindow::now_ns();
    handle->pass_generation = state.inodes.names_generation();
    int fd, err;
    {
        auto creds = backing_call_as_caller(req);
        if (!creds) return creds.error();
        fd = ::open(ProcPath(inode.fd.get()).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        err = fd < 0 ? errno : 0;  // read before the creds are restored
    }
    if (err != 0) {
        const Error error = os_error(err);
        if (backing_gone(state, error)) {
            if (auto listing = listing_for(state, inode, caller, true)) {
                handle->listing = std::move(listing);
                return handle;
            }
        }
        return error;
    }
    inode.listed.store(true, std::memory_order_relaxed);
    handle->dir = ::fdopendir(fd);
    if (!handle->dir) {
        Error error = last_os_error();
        ::close(fd);
        return error;
    }
    if (state.window.ns() > 0) {
        state.read_grants.add(inode.key, caller, ReadGrants::Grant{{}, checked});
        handle->pass = std::make_shared<DirListing>();
        handle->pass->at_ns = checked;
    }
    return handle;
}

// A reply being filled.
struct ReplyBuffer {
    fuse_req_t req;
    std::vector<char>& buf;
    std::size_t used = 0;

    bool empty() const { return used == 0; }
    char* next() { return buf.data() + used; }
    std::size_t room() const { return buf.size() - used; }
};

enum class Added { yes, full, gone };

// Adds one entry to `out`; for readdirplus (`searcher` set, the caller)
// with its inode looked up.
Result<Added> add_entry(State& state, Inode& dir, ReplyBuffer& out, const char* name, ino_t ino, unsigned char type,
                        off_t next, const CallerId* searcher) {
    std::size_t size;
    if (searcher) {
        fuse_entry_param e{};
        bool counted = false;
        if (!is_dot_or_dotdot(name)) {
            auto entry = find_entry(state, dir, name, searcher);
            if (entry) {
                e = entry.value();
                counted = true;
            } else if (entry.error().sys_errno == ENOENT) {  // removed since the listing saw it
                return Added::gone;
            } else if (entry.error().sys_errno != EACCES) {
                return entry.error();
            }
        }
        if (!counted) {
            // ".", "..", or an entry the caller may not look up: the name
            // and type alone, without attributes.
            e.attr.st_ino = ino;
            e.attr.st_mode = DTTOIF(type);
        }
        size = fuse_add_direntry_plus(out.req, out.next(), out.room(), name, &e, next);
        if (size > out.room()) {
            if (counted) state.inodes.forget(state.inodes.get(e.ino), 1);
            return Added::full;
        }
    } else {
        struct stat st {};
        st.st_ino = ino;
        st.st_mode = DTTOIF(type);
        size = fuse_add_direntry(out.req, out.next(), out.room(), name, &st, next);
        if (size > out.room()) return Added::full;
    }
    out.used += size;
    return Added::yes;
}

// The entries of a listing from `off` on.
Result<std::size_t> fill_from_listing(State& state, DirHandle& handle, off_t off, ReplyBuffer& out,
                                      const CallerId* searcher) {
    const DirListing& listing = *handle.listing;
    const auto first = listing.index_at(off);
    if (!first) return os_error(EINVAL);
    for (std::size_t i = *first; i < listing.entries.size(); ++i) {
        const DirListing::Entry& e = listing.entries[i];
        auto added = add_entry(state, handle.inode, out, e.name.c_str(), e.ino, e.type, e.next, searcher);
        if (!added) {
            if (out.empty()) return added.error();
            break;
        }
        if (added.value() == Added::full) break;
    }
    return out.used;
}

// The entries of the backing stream from `off` on, kept in the pass.
Result<std::size_t> fill_from_backing(State& state, DirHandle& handle, off_t off, ReplyBuffer& out,
                                      const CallerId* searcher) {
    if (off != handle.offset) {
        ::seekdir(handle.dir, off);
        handle.entry = nullptr;
        handle.offset = off;
        handle.pass.reset();
    }
    for (;;) {
        if (!handle.entry) {
            auto call = backing_call(state);
            if (!call) {
                handle.pass.reset();
                if (out.empty()) return call.error();
                break;
            }
            errno = 0;
            handle.entry = ::readdir(handle.dir);
            if (!handle.entry) {
                if (errno != 0) {
                    handle.pass.reset();
                    if (out.empty()) return last_os_error();
                } else if (handle.pass) {
                    state.inodes.publish_listing(handle.inode, std::move(handle.pass), handle.pass_generation);
                }
                break;  // end of directory, or an error after some entries
            }
        }
        const struct dirent* ent = handle.entry;
        auto added = add_entry(state, handle.inode, out, ent->d_name, ent->d_ino, ent->d_type, ent->d_off, searcher);
        if (!added) {
            if (out.empty()) return added.error();
            break;
        }
        if (added.value() == Added::full) break;
        if (added.value() == Added::yes && handle.pass &&
            !handle.pass->add(DirListing::Entry{ent->d_name, ent->d_ino, ent->d_type, ent->d_off}))
            handle.pass.reset();
        handle.offset = ent->d_off;
        handle.entry = nullptr;
    }
    return out.used;
}

// Fills `buf` with the entries from `off` on; returns the bytes used.
Result<std::size_t> do_readdir(fuse_req_t req, off_t off, fuse_file_info* fi, bool plus, std::vector<char>& buf) {
    State& state = state_of(req);
    DirHandle& handle = dir_handle_of(fi);
    std::lock_guard lock(handle.mutex);
    std::optional<CallerId> searcher;
    if (plus) searcher = CallerCreds::caller_of(req, state.own());
    // readdirplus looks every entry up as the caller: in a directory it may
    // read but not search, it gets the names without their attributes, as
    // from the backing.
    auto creds = as_caller(req);
    if (!creds) return creds.error();
    ReplyBuffer out{req, buf};
    const CallerId* who = searcher ? &*searcher : nullptr;
    return handle.listing ? fill_from_listing(state, handle, off, out, who)
                          : fill_from_backing(state, handle, off, out, who);
}

void reply_readdir(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi, bool plus) {
    std::vector<char> buf(size);
    auto used = do_readdir(req, off, fi, plus, buf);
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

void op_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    reply_readdir(req, size, off, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    reply_readdir(req, size, off, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    delete &dir_handle_of(fi);
    fuse_reply_err(req, 0);
}

// A stream served from a listing has no backing descriptor: the backing
// directory is opened for the sync alone.
void op_fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
    DirHandle& handle = dir_handle_of(fi);
    UniqueFd own;
    int fd;
    {
        std::lock_guard lock(handle.mutex);
        if (handle.dir) {
            fd = ::dirfd(handle.dir);
        } else {
            own.reset(::open(ProcPath(handle.inode.fd.get()).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!own.valid()) return static_cast<void>(fuse_reply_err(req, errno));
            fd = own.get();
        }
    }
    int r = datasync ? ::fdatasync(fd) : ::fsync(fd);
    fuse_reply_err(req, r == 0 ? 0 : errno);
}

}  // namespace bcl
