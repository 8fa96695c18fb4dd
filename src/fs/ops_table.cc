// The session's capabilities (negotiated here, in one place) and the table
// of request handlers.
#include "bcachefs_lite/fs/session.h"
#include "ops.h"
#include "ops_common.h"

namespace bcl {
namespace {

void op_init(void* userdata, fuse_conn_info* conn) {
    State& state = *static_cast<State*>(userdata);
    auto want_if_capable = [conn](unsigned cap) {
        if (conn->capable & cap) conn->want |= cap;
    };
    // Data moves by splice where the kernel can: reads reply with descriptor
    // ranges, writes arrive in a pipe.
    want_if_capable(FUSE_CAP_SPLICE_READ);
    want_if_capable(FUSE_CAP_SPLICE_WRITE);
    want_if_capable(FUSE_CAP_SPLICE_MOVE);
    want_if_capable(FUSE_CAP_ASYNC_READ);
    want_if_capable(FUSE_CAP_READDIRPLUS);
    want_if_capable(FUSE_CAP_READDIRPLUS_AUTO);
    want_if_capable(FUSE_CAP_PARALLEL_DIROPS);
    // Drop cached pages when a file's size or mtime changed behind our back.
    want_if_capable(FUSE_CAP_AUTO_INVAL_DATA);
    // Off: node ids are addresses, valid only while looked up (no NFS
    // export); the kernel must not cache writes (coherency with the backing
    // directory); truncation on open must reach FileData::truncate (it comes
    // as a setattr); the kernel clears setuid bits itself, as the daemon's
    // writes run with root's CAP_FSETID; the kernel applies the umask; and
    // locks stay in the kernel (flock and POSIX locks are local to the mount).
    conn->want &= ~(FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_ATOMIC_O_TRUNC |
                    FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_DONT_MASK | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
    conn->max_write = Session::kMaxIo;
    conn->max_read = Session::kMaxIo;
    state.log.debug("FUSE protocol {}.{}: capable {:#x}, want {:#x}, max_write {}", conn->proto_major,
                    conn->proto_minor, conn->capable, conn->want, conn->max_write);
}

// A request that may change attributes: the daemon's cached copies
// (attr_cache.h) are not used while it runs, and are stale after it.
template <auto Handler>
struct Changing;
template <typename... Args, void (*Handler)(fuse_req_t, Args...)>
struct Changing<Handler> {
    static void call(fuse_req_t req, Args... args) {
        const ChangeEpoch::Scope change(state_of(req).changes);
        Handler(req, args...);
    }
};

fuse_lowlevel_ops make_ops() {
    fuse_lowlevel_ops ops{};
    ops.init = op_init;
    ops.lookup = op_lookup;
    ops.forget = op_forget;
    ops.forget_multi = op_forget_multi;
    ops.getattr = op_getattr;
    ops.setattr = Changing<op_setattr>::call;
    ops.readlink = op_readlink;
    ops.access = op_access;
    ops.statfs = op_statfs;
    ops.mknod = Changing<op_mknod>::call;
    ops.mkdir = Changing<op_mkdir>::call;
    ops.symlink = Changing<op_symlink>::call;
    ops.link = Changing<op_link>::call;
    ops.unlink = Changing<op_unlink>::call;
    ops.rmdir = Changing<op_rmdir>::call;
    ops.rename = Changing<op_rename>::call;
    ops.opendir = op_opendir;
    ops.readdir = op_readdir;
    ops.readdirplus = op_readdirplus;
    ops.releasedir = op_releasedir;
    ops.fsyncdir = op_fsyncdir;
    ops.open = op_open;
    ops.create = Changing<op_create>::call;
    ops.read = op_read;
    ops.write_buf = Changing<op_write_buf>::call;
    ops.flush = op_flush;
    ops.release = op_release;
    ops.fsync = op_fsync;
    ops.fallocate = Changing<op_fallocate>::call;
    ops.lseek = op_lseek;
    ops.copy_file_range = Changing<op_copy_file_range>::call;
    ops.getxattr = op_getxattr;
    ops.listxattr = op_listxattr;
    ops.setxattr = Changing<op_setxattr>::call;
    ops.removexattr = Changing<op_removexattr>::call;
    // getlk/setlk/flock stay unset: the kernel keeps locks itself.
    return ops;
}

}  // namespace

const fuse_lowlevel_ops& lowlevel_ops() {
    static const fuse_lowlevel_ops ops = make_ops();  // immutable after first use
    return ops;
}

}  // namespace bcl
