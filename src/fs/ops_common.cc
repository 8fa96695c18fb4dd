#include "ops_common.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "bcachefs_lite/cache/backing_link.h"
#include "bcachefs_lite/cache/coherency_window.h"
#include "os_error.h"

namespace bcl {

Result<struct stat> stat_inode(const Inode& inode) {
    struct stat st;
    if (::fstatat(inode.fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return last_os_error();
    return st;
}

Result<struct stat> stat_inode(State& state, const Inode& inode) {
    auto call = backing_call(state);
    if (!call) return call.error();
    return stat_inode(inode);
}

Result<Inode*> add_named_inode(State& state, Inode& parent, const char* name, const struct stat& st, UniqueFd path_fd,
                               std::string_view what) {
    const FileKey backing{st.st_dev, st.st_ino};
    auto key = state.ids.key_of(parent, name, st.st_mode, backing);
    if (!key) {
        state.log.error("{} of {}: {}", what, name, key.error().message);
        return os_error(EIO);
    }
    return &state.inodes.add_lookup(key.value(), backing, st.st_mode, std::move(path_fd));
}

namespace {

fuse_entry_param entry_param(const State& state, const Inode& inode, const struct stat& st) {
    fuse_entry_param e{};
    e.ino = state.inodes.ino_of(inode);
    e.generation = 0;
    e.attr = st;
    e.attr_timeout = state.options.attr_timeout_seconds();
    e.entry_timeout = state.options.entry_timeout_seconds();
    return e;
}

// Whether `caller` may search a directory of mode, owner and group `dir`,
// by its permission bits, as the kernel decides under default_permissions.
bool may_search(const struct stat& dir, const CallerId& caller) {
    if (caller.uid == 0) return true;  // CAP_DAC_READ_SEARCH
    if (caller.uid == dir.st_uid) return dir.st_mode & S_IXUSR;
    const bool member = caller.gid == dir.st_gid ||
                        std::find(caller.groups.begin(), caller.groups.end(), dir.st_gid) != caller.groups.end();
    return dir.st_mode & (member ? S_IXGRP : S_IXOTH);
}

// The same for the directory `dir`, by its attributes within the window,
// else read again, else (the backing does not answer) the last read.
bool may_search(State& state, Inode& dir, const CallerId& caller, std::int64_t now, std::int64_t window) {
    const std::uint64_t epoch = state.changes.stable();
    auto st = dir.attrs.get(epoch, now, window);
    if (!st && backing_hangs(state)) st = dir.attrs.last();
    if (!st) {
        auto read = stat_inode(state, dir);
        if (read) {
            dir.attrs.store(read.value(), epoch, now);
            st = read.value();
        } else {
            st = dir.attrs.last();
        }
    }
    return st && may_search(*st, caller);
}

// The entry of a remembered inode (one lookup added), with its attributes
// from memory while they hold, else read again; the lookup is taken back
// on an error.
Result<fuse_entry_param> recalled_entry(State& state, Inode& inode, std::int64_t now, std::int64_t window) {
    const std::uint64_t epoch = state.changes.stable();
    if (auto cached = inode.attrs.get(epoch, now, window)) return entry_param(state, inode, *cached);
    if (backing_hangs(state)) {
        if (auto last = inode.attrs.last()) return entry_param(state, inode, *last);
    }
    auto st = stat_inode(state, inode);
    if (!st) {
        if (backing_gone(state, st.error())) {
            if (auto last = inode.attrs.last()) return entry_param(state, inode, *last);
        }
        state.inodes.forget(inode, 1);
        return st.error();
    }
    inode.attrs.store(st.value(), epoch, now);
    return entry_param(state, inode, st.value());
}

// The first lookup on the backing in a directory that this mount has not
// listed there lists it first, when State::prime_listings says the backing
// answers the lookups of a directory's entries from what a listing of it
// fetched (sshfs's attribute cache, NFS's READDIRPLUS): a walk by paths
// after a mount then costs the backing one listing per directory instead of
// a round trip per file. Runs as the caller, whose lookup follows; a
// directory it may not list is left to the lookups. A large directory
// (its size past kPrimeMaxDirBytes, some thousands of entries) is left to
// them too: sshfs fetches a whole directory to list any of it, which for
// one lookup could cost hundreds of round trips.
constexpr off_t kPrimeMaxDirBytes = 64 << 10;

void prime_listing(State& state, Inode& dir) {
    if (!state.prime_listings || dir.listed.exchange(true)) return;
    auto call = backing_call(state);
    if (!call) return;
    struct stat st;
    if (auto last = dir.attrs.last()) {
        st = *last;
    } else if (::fstat(dir.fd.get(), &st) != 0) {
        return;
    }
    if (st.st_size > kPrimeMaxDirBytes) return;
    const int fd = ::open(ProcPath(dir.fd.get()).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    DIR* stream = ::fdopendir(fd);
    if (!stream) {
        ::close(fd);
        return;
    }
    std::size_t read = 0;
    while (read < DirListing::kMaxEntries && ::readdir(stream) != nullptr) ++read;
    ::closedir(stream);
}

}  // namespace

Result<fuse_entry_param> lookup_entry(State& state, Inode& parent, const char* name) {
    // The kernel sends neither; refusing them keeps ".." of the root from
    // reaching outside the backing directory.
    if (::strcmp(name, ".") == 0 || ::strcmp(name, "..") == 0) return os_error(EINVAL);
    const std::uint64_t epoch = state.changes.stable();
    const std::int64_t now = CoherencyWindow::now_ns();
    UniqueFd fd;
    struct stat st;
    {
        auto call = backing_call(state);
        if (!call) return call.error();
        fd.reset(::openat(parent.fd.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!fd.valid()) return last_os_error();
        if (::fstatat(fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return last_os_error();
    }
    auto inode = add_named_inode(state, parent, name, st, std::move(fd), "lookup");
    if (!inode) return inode.error();
    inode.value()->attrs.store(st, epoch, now);
    if (S_ISREG(st.st_mode)) state.read_grants.renew(inode.value()->key, st, now);
    return entry_param(state, *inode.value(), st);
}

Result<fuse_entry_param> find_entry(State& state, Inode& parent, const char* name, const CallerId* searcher) {
    const std::int64_t now = CoherencyWindow::now_ns();
    const std::int64_t window = state.window.ns();
    if (window > 0 && (!searcher || may_search(state, parent, *searcher, now, window))) {
        if (auto found = state.inodes.recall(parent, name, now, window))
            return recalled_entry(state, *found->inode, now, window);
    }
    // While the backing hangs, a name remembered at any age before any
    // call.
    if (backing_hangs(state) && (!searcher || may_search(state, parent, *searcher, now, window))) {
        if (auto found = state.inodes.recall(parent, name, now, -1))
            return recalled_entry(state, *found->inode, now, window);
    }
    prime_listing(state, parent);
    const std::uint64_t generation = state.inodes.names_generation();
    auto entry = lookup_entry(state, parent, name);
    if (entry) {
        state.inodes.remember(parent, name, state.inodes.get(entry.value().ino), now, generation);
        state.data.backing_answered();
    } else if (backing_gone(state, entry.error()) && (!searcher || may_search(state, parent, *searcher, now, window))) {
        if (auto found = state.inodes.recall(parent, name, now, -1))
            return recalled_entry(state, *found->inode, now, window);
    }
    return entry;
}

bool backing_gone(State& state, const Error& error) {
    if (!BackingLink::unreachable(error.sys_errno)) return false;
    state.data.backing_failed(error);
    return true;
}

bool backing_hangs(State& state) {
    const BackingLink* link = state.data.backing_link();
    return link && link->hanging();
}

Result<BackingLink::Call> backing_call(State& state) {
    BackingLink* link = state.data.backing_link();
    if (!link) return BackingLink::Call();
    if (link->hanging()) return os_error(ETIMEDOUT);
    return link->begin_call();
}

Result<struct statx> statx_fd(int fd) {
    struct statx stx;
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0) return last_os_error();
    return stx;
}

Result<std::unique_ptr<OpenFile>> attach(State& state, Inode& inode, UniqueFd fd, int flags, bool truncate,
                                         const CallerId* reader) {
    // Before the statx: a grant never claims a check later than it was.
    const std::int64_t checked_ns = CoherencyWindow::now_ns();
    auto stx = statx_fd(fd.get());
    if (!stx) return stx.error();
    // The engine knows the file by the inode's key (identities.h).
    const struct statx keyed = with_key(stx.value(), inode.key);
    auto file = std::make_unique<OpenFile>();
    file->inode = &inode;
    file->backing = std::make_unique<BackingFile>(fd.release());
    auto handle = state.data.open(*file->backing, keyed, flags);
    if (!handle) return handle.error();
    file->data = std::move(handle.value());
    if (truncate) {
        auto truncated = state.data.truncate(file->data.get(), inode.fd.get(), 0);
        data_changed(state, inode);
        if (!truncated) {
            state.data.release(std::move(file->data));
            return truncated.error();
        }
    }
    if (reader) state.read_grants.add(inode.key, *reader, ReadGrants::Grant{keyed, checked_ns});
    return file;
}

std::unique_ptr<OpenFile> open_granted(State& state, Inode& inode, const CallerId& reader, int flags, bool offline) {
    const auto grant = state.read_grants.find(inode.key, reader);
    if (!grant) return nullptr;
    auto file = std::make_unique<OpenFile>();
    file->inode = &inode;
    // Opened as the reader, when a read first needs the backing file; the
    // inode's O_PATH descriptor lives as long as the kernel holds the file
    // open.
    const int path_fd = inode.fd.get();
    const int backing_flags = flags & ~O_DIRECT;
    file->backing = std::make_unique<BackingFile>([&state, path_fd, reader, backing_flags]() -> Result<int> {
        auto creds = CallerCreds::enter(reader, state.switch_creds, state.own());
        if (!creds) return creds.error();
        const int fd = ::open(ProcPath(path_fd).c_str(), backing_flags);
        if (fd < 0) return last_os_error();
        return fd;
    });
    auto handle = offline ? state.data.open_offline(*file->backing, grant->stx, flags)
                          : state.data.open_checked(*file->backing, grant->stx, grant->checked_ns, flags);
    // An error here costs only the shortcut: the caller opens the file.
    if (!handle || !handle.value()) return nullptr;
    file->data = std::move(handle.value());
    return file;
}

void release_file(State& state, OpenFile* file) {
    state.data.release(std::move(file->data));
    delete file;  // closes the backing descriptor after the seam let go
}

void data_changed(State& state, const Inode& inode) {
    for (const FileKey& other : state.inodes.other_keys(inode)) state.data.unlinked(other, 0);
}

}  // namespace bcl
