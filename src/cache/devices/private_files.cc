#include "devices/private_files.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace bcl {
namespace {

constexpr std::string_view kOverride = "or mount with allow_insecure_cache to accept it";

std::string mode_text(mode_t mode) { return fmt::format("{:04o}", mode & 07777); }

Status check_owner(const struct stat& st, std::string_view role, const std::string& path) {
    const uid_t own = ::geteuid();
    if (st.st_uid == own) return ok();
    return make_error(Errc::permission,
                      fmt::format("{} {} belongs to uid {}, who could read the cached data of every file; run "
                                  "'chown {} {}', {}",
                                  role, path, st.st_uid, own, path, kOverride));
}

}  // namespace

Status check_private_cache(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ok();
    if (S_ISBLK(st.st_mode)) {
        if ((st.st_mode & 0006) == 0) return ok();
        return make_error(Errc::permission,
                          fmt::format("cache {} may be read or written by every user (mode {}), who could read the "
                                      "cached data of every file; run 'chmod o-rw {}' (and fix the udev rule that "
                                      "set it), {}",
                                      path, mode_text(st.st_mode), path, kOverride));
    }
    if (!S_ISREG(st.st_mode)) return ok();  // opening it says what it is
    BCL_TRY(check_owner(st, "cache", path));
    if ((st.st_mode & 0066) == 0) return ok();
    return make_error(Errc::permission,
                      fmt::format("cache {} may be read or written by other users (mode {}), who could read the "
                                  "cached data of every file; run 'chmod 600 {}', {}",
                                  path, mode_text(st.st_mode), path, kOverride));
}

Status check_private_index(const std::string& dir) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return ok();  // opening it says why
    BCL_TRY(check_owner(st, "index", dir));
    if ((st.st_mode & 0077) == 0) return ok();
    return make_error(Errc::permission,
                      fmt::format("index {} may be entered or listed by other users (mode {}), who could read "
                                  "what it records of every cached file; run 'chmod 700 {}', {}",
                                  dir, mode_text(st.st_mode), dir, kOverride));
}

}  // namespace bcl
