// Helpers shared by the request handlers (ops_*.cc): the session state of a
// request, error replies, inode stat and lookup, and the open-file and
// open-directory handles kept in fuse_file_info::fh.
//
// Thread safety: as the handlers: each call works on one request.
#pragma once

#include <dirent.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string_view>

#include "bcachefs_lite/cache/backing_link.h"
#include "bcachefs_lite/fs/file_data.h"
#include "fuse_api.h"
#include "inode_table.h"
#include "session_state.h"
#include "unique_fd.h"

namespace bcl {

using State = Session::State;

inline State& state_of(fuse_req_t req) { return *static_cast<State*>(fuse_req_userdata(req)); }

inline void reply_error(fuse_req_t req, const Error& error) { fuse_reply_err(req, error.to_errno()); }
// Replies 0 for success, else the error's errno.
inline void reply_status(fuse_req_t req, const Status& status) {
    fuse_reply_err(req, status ? 0 : status.error().to_errno());
}

// Switches the thread to the caller of `req` until the result is destroyed
// (CallerCreds): every backing call a request makes on the caller's behalf
// runs inside such a scope, so that the backing decides what the caller
// may do. Calls into the cache engine stay outside it.
inline Result<CallerCreds> as_caller(fuse_req_t req) {
    const State& state = state_of(req);
    return CallerCreds::enter(req, state.switch_creds, state.own());
}

// "/proc/self/fd/N": reopens an O_PATH descriptor with real access modes, or
// reaches its inode with calls that take only paths (xattrs, chmod, utimes).
class ProcPath {
public:
    explicit ProcPath(int fd) { std::snprintf(buf_, sizeof buf_, "/proc/self/fd/%d", fd); }
    const char* c_str() const { return buf_; }

private:
    char buf_[32];
};

// lstat of the inode itself.
Result<struct stat> stat_inode(const Inode& inode);
// The same as a tracked call on the backing (backing_call).
Result<struct stat> stat_inode(State& state, const Inode& inode);

// The inode of `name` in `parent` (lstat `st`, O_PATH descriptor `path_fd`)
// with one more lookup, under the key the mount's identity gives it; EIO,
// logged as a failed `what` ("lookup", "create"), when that key cannot be
// had.
Result<Inode*> add_named_inode(State& state, Inode& parent, const char* name, const struct stat& st, UniqueFd path_fd,
                               std::string_view what);

// Looks `name` up in `parent` on the backing without following a symlink,
// adds one lookup to its inode and returns the entry to reply with.
Result<fuse_entry_param> lookup_entry(State& state, Inode& parent, const char* name);
// The same, answered without the backing when the name was looked up
// within the coherency window (InodeTable::remember), and remembered when
// it goes to the backing. With `searcher`, the answer comes from memory
// only when the directory's mode lets that caller search it (readdirplus,
// which the kernel checks for read permission only).
Result<fuse_entry_param> find_entry(State& state, Inode& parent, const char* name, const CallerId* searcher = nullptr);
// Whether `error`, from a call on the backing directory, says that it does
// not answer (BackingLink::unreachable); the seam is told so. What the
// daemon remembers then answers in its place, whatever its age, as far as
// it goes: names, attributes, listings, grants and cached data.
bool backing_gone(State& state, const Error& error);
// Whether the backing directory hangs (BackingLink::hanging: down, with a
// call still in flight): what the daemon remembers then answers first,
// without a call.
bool backing_hangs(State& state);
// A call on the backing directory about to be made, tracked while it lasts
// (BackingLink::Call; empty without a link). ETIMEDOUT instead while the
// backing hangs: a second call would only hang with the first and take a
// worker thread.
Result<BackingLink::Call> backing_call(State& state);
// A call on the backing directory made on behalf of the caller of `req`:
// tracked while it lasts (backing_call) and run as the caller (as_caller).
// ETIMEDOUT at once while the backing hangs, so that a change or a check
// that needs the backing fails cleanly instead of waiting with the call
// that hangs.
struct CallerCall {
    BackingLink::Call call;
    CallerCreds creds;
};
inline Result<CallerCall> backing_call_as_caller(fuse_req_t req) {
    auto call = backing_call(state_of(req));
    if (!call) return call.error();
    auto creds = as_caller(req);
    if (!creds) return creds.error();
    return CallerCall{std::move(call).value(), std::move(creds).value()};
}
// A name in `parent` changed through the mount, or may have: what is
// remembered of it and of the directory's listing goes.
inline void name_changed(State& state, Inode& parent, const char* name) { state.inodes.name_changed(parent, name); }

// statx of an open descriptor: basic stats and birth time.
Result<struct statx> statx_fd(int fd);

// An open file: the backing descriptor (owned here) and the FileData handle.
struct OpenFile {
    Inode* inode = nullptr;
    std::unique_ptr<BackingFile> backing;
    std::unique_ptr<FileData::Handle> data;
};

inline OpenFile& open_file_of(const fuse_file_info* fi) { return *reinterpret_cast<OpenFile*>(fi->fh); }

// Wraps `fd`, a backing descriptor of `inode` open with `flags`, into an
// OpenFile through the FileData seam, under the inode's key; truncates it
// to 0 first when `truncate`. With `reader`, a read-only open by that
// caller, the open is remembered in the mount's ReadGrants.
Result<std::unique_ptr<OpenFile>> attach(State& state, Inode& inode, UniqueFd fd, int flags, bool truncate,
                                         const CallerId* reader = nullptr);
// A read-only open of `inode` by `reader` answered without opening the
// backing file, on a grant of an earlier open (read_grants.h); null when
// there is none or the seam wants the backing file opened. With
// `offline`, the open is answered while the backing does not answer
// (FileData::open_offline), on a grant of any age.
std::unique_ptr<OpenFile> open_granted(State& state, Inode& inode, const CallerId& reader, int flags,
                                       bool offline = false);
// Releases the file through the seam, then closes its backing descriptor.
void release_file(State& state, OpenFile* file);

// The data of `inode`'s backing file changed through it (write, truncate,
// fallocate, copy_file_range). Under identity=path its other names that
// the kernel holds (hard links) are other files to the engine, whose
// cached data would not see the change should it come within the
// timestamps' granularity: their cached data is dropped (their open
// handles then read the backing file, their next open caches afresh).
void data_changed(State& state, const Inode& inode);

// An open directory stream: the backing directory's, or a listing of it
// (dir_listing.h) taken within the coherency window.
struct DirHandle {
    explicit DirHandle(Inode& inode) : inode(inode) {}
    DirHandle(const DirHandle&) = delete;
    DirHandle& operator=(const DirHandle&) = delete;
    ~DirHandle() {
        if (dir) ::closedir(dir);
    }

    Inode& inode;
    std::mutex mutex;                           // guards everything below
    DIR* dir = nullptr;                         // the backing stream, unless a listing serves
    std::shared_ptr<const DirListing> listing;  // serves the stream when set
    // The backing stream as read from its first entry on, to be published
    // as the directory's listing at its end; dropped on a seek.
    std::shared_ptr<DirListing> pass;
    std::uint64_t pass_generation = 0;  // InodeTable::names_generation before the pass
    off_t offset = 0;                   // position of the next entry to return
    struct dirent* entry = nullptr;     // read from dir but not yet returned
};

inline DirHandle& dir_handle_of(const fuse_file_info* fi) { return *reinterpret_cast<DirHandle*>(fi->fh); }

}  // namespace bcl
