#include "bcachefs_lite/fs/session.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/fs/identity.h"
#include "ops.h"
#include "os_error.h"
#include "session_state.h"

namespace bcl {
namespace {

// Names remembered (InodeTable::remember) hold one descriptor each: the
// descriptor limit is raised to its hard limit, and a quarter of it is
// theirs, at most 64Ki names.
std::size_t remembered_names_limit() {
    struct rlimit lim;
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
    if (lim.rlim_cur < lim.rlim_max) {
        struct rlimit raised = lim;
        raised.rlim_cur = lim.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
    }
    return static_cast<std::size_t>(std::min<rlim_t>(lim.rlim_cur / 4, rlim_t{1} << 16));
}

// Whether the file system of `fd` answers the lookups of a directory's
// entries from what a listing of it fetched: sshfs and other FUSE network
// file systems (their attribute caches), NFS (READDIRPLUS), SMB, Ceph.
bool lists_with_attributes(int fd) {
    constexpr long kNfs = 0x6969, kSmb2 = 0xfe534d42, kCifs = 0xff534d42, kCeph = 0x00c36400;
    struct statfs sf {};
    if (::fstatfs(fd, &sf) != 0) return false;
    const long type = static_cast<long>(sf.f_type);
    return type == kFuseSuperMagic || type == kNfs || type == kSmb2 || type == kCifs || type == kCeph;
}

// The name of the read grants in FileData::save_state.
constexpr std::string_view kReadGrantsState = "read_grants";

}  // namespace

Session::Session(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<Session>> Session::create(const MountOptions& options, FileData& data, StatsXattrs& stats,
                                                 Logger& log, NameTable* names) {
    // Modes arrive with the caller's umask already applied by the kernel;
    // the daemon's own must not take more bits away.
    ::umask(0);

    UniqueFd root(::open(options.source.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid()) return sys_error(errno, options.source);
    struct stat st;
    if (::fstat(root.get(), &st) != 0) return sys_error(errno, options.source);

    const bool prime_listings = lists_with_attributes(root.get());
    auto state =
        std::make_unique<State>(options, data, stats, log, names, std::move(root), FileKey{st.st_dev, st.st_ino});
    state->prime_listings = prime_listings;
    state->inodes.set_entry_limit(remembered_names_limit());
    // What the last mount was allowed to read: a warm tree then needs no
    // backing open per file (read_grants.h). Without it, only that.
    auto saved = data.saved_state(kReadGrantsState);
    if (!saved) {
        log.warn("the read grants of the last mount are lost: {}", saved.error().message);
    } else if (saved.value()) {
        if (auto restored = state->read_grants.restore(*saved.value()); !restored)
            log.warn("the read grants of the last mount are lost: {}", restored.error().message);
    }
    state->own_uid = ::geteuid();
    state->own_gid = ::getegid();
    state->switch_creds = state->own_uid == 0;
    int ngroups = ::getgroups(0, nullptr);
    if (ngroups > 0) {
        state->own_groups.resize(static_cast<std::size_t>(ngroups));
        ngroups = ::getgroups(ngroups, state->own_groups.data());
        state->own_groups.resize(ngroups > 0 ? static_cast<std::size_t>(ngroups) : 0);
    }

    std::vector<std::string> args = fuse_mount_arguments(options, "bcachefs-lite", kMaxIo);
    if (options.debug) args.emplace_back("-d");
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(args.size()), argv.data());
    const fuse_lowlevel_ops& ops = lowlevel_ops();
    state->se = fuse_session_new(&fargs, &ops, sizeof ops, state.get());
    fuse_opt_free_args(&fargs);
    if (!state->se) return make_error(Errc::invalid, "cannot create the FUSE session (see the message above)");
    return std::unique_ptr<Session>(new Session(std::move(state)));
}

Session::~Session() {
    if (!state_ || !state_->se) return;
    if (state_->mounted) {
        fuse_remove_signal_handlers(state_->se);
        fuse_session_unmount(state_->se);
    }
    fuse_session_destroy(state_->se);
}

Status Session::mount() {
    if (fuse_set_signal_handlers(state_->se) != 0) {
        return make_error(Errc::io, "cannot install signal handlers");
    }
    if (fuse_session_mount(state_->se, state_->options.mountpoint.c_str()) != 0) {
        fuse_remove_signal_handlers(state_->se);
        return make_error(Errc::io, "cannot mount " + state_->options.mountpoint + " (see the message above)");
    }
    state_->mounted = true;
    return ok();
}

Status Session::detach() {
    if (fuse_daemonize(0) != 0) return make_error(Errc::io, "cannot detach from the terminal");
    return ok();
}

Status Session::run() {
    fuse_loop_config* config = fuse_loop_cfg_create();
    if (!config) return sys_error(ENOMEM, "fuse_loop_cfg_create");
    fuse_loop_cfg_set_clone_fd(config, state_->options.clone_fd ? 1 : 0);
    fuse_loop_cfg_set_idle_threads(config, kMaxIdleThreads);
    int r = fuse_session_loop_mt(state_->se, config);
    fuse_loop_cfg_destroy(config);
    if (r < 0) return sys_error(-r, "FUSE session loop");
    if (r > 0) state_->log.info("signal {}: unmounting {}", r, state_->options.mountpoint);
    // No request is in flight any more: the grants are final.
    if (auto saved = state_->data.save_state(kReadGrantsState, state_->read_grants.save()); !saved)
        state_->log.warn("cannot save the read grants for the next mount: {}", saved.error().message);
    return ok();
}

}  // namespace bcl
