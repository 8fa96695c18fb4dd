#include "writeback_mount.h"

#include <sys/xattr.h>

#include <cerrno>
#include <cstring>

#include "../cache_e2e.h"

namespace bcl::test {

const char* pace_name(WritebackPace pace) {
    return pace == WritebackPace::hard ? "writeback running hard" : "writeback stopped";
}

std::string writeback_options(WritebackPace pace) {
    std::string options = "allow_other,default_permissions,entry_timeout=0,attr_timeout=0,mode=writeback";
    if (pace == WritebackPace::hard) {
        options += ",writeback_running=1,writeback_delay=0,writeback_percent=0,writeback_rate_minimum=1G";
    } else {
        options += ",writeback_running=0";
    }
    return options;
}

MountSpec writeback_spec(WritebackPace pace) {
    MountSpec spec;
    spec.options = writeback_options(pace);
    return spec;
}

std::string ctl_flush(const std::string& mnt) {
    if (ctl_path().empty()) return "BCL_CTL is not set (run the tests through meson test)";
    RunResult r = run_program({ctl_path(), "flush", mnt}, kFlushTimeout);
    if (r.timed_out)
        return "bcachefs-lite-ctl flush did not return within " + std::to_string(kFlushTimeout.count()) + " ms";
    if (!r.exited_with(0)) {
        return "bcachefs-lite-ctl flush: wait status " + std::to_string(r.status) + ", output: " + r.err;
    }
    return {};
}

std::string start_flush(const std::string& mnt) {
    std::string name = std::string(kStatPrefix) + "flush";
    if (::setxattr(mnt.c_str(), name.c_str(), "1", 1, 0) != 0) return "setxattr " + name + ": " + std::strerror(errno);
    return {};
}

std::optional<std::uint64_t> dirty_data(const std::string& mnt) { return stat_xattr(mnt, "dirty_data"); }

}  // namespace bcl::test
