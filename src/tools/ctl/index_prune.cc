#include "index_prune.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <system_error>
#include <utility>
#include <vector>

namespace bcl::ctl {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kLeftoverSuffix = ".pruning";

// An open-file-description lock on a file; let go when destroyed.
class HeldLock {
public:
    HeldLock() = default;
    explicit HeldLock(int fd) : fd_(fd) {}
    ~HeldLock() {
        if (fd_ >= 0) ::close(fd_);
    }
    HeldLock(HeldLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    HeldLock& operator=(HeldLock&&) = delete;
    void release() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

// Takes the index's lock for writing, without waiting. No LOCK file: no
// database was ever opened for writing there, so none can hold it now.
Result<HeldLock> lock_index(const std::string& dir) {
    const std::string lock = dir + "/LOCK";
    const int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return HeldLock();
        return sys_error(errno, fmt::format("index {}", dir));
    }
    HeldLock held(fd);
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        if (errno == EAGAIN || errno == EACCES)
            return make_error(Errc::busy, fmt::format("index {} is in use (mounted): not removed", dir));
        return sys_error(errno, fmt::format("index {}: cannot take its lock", dir));
    }
    return held;
}

}  // namespace

Result<IndexEntry> remove_index(const std::string& root, const std::string& name, BlockDeviceScan& scan,
                                const std::function<bool(const IndexEntry&)>& allowed) {
    const std::string dir = root + "/" + name;
    auto lock = lock_index(dir);
    if (!lock) return lock.error();
    IndexEntry e = survey_index(root, name, scan, /*probe_lock=*/false);
    if (!allowed(e))
        return make_error(Errc::exists, fmt::format("index {} is {} now: not removed", dir, index_state_name(e.state)));
    const std::string away = fmt::format("{}/.{}{}", root, name, kLeftoverSuffix);
    std::error_code ec;
    fs::remove_all(away, ec);
    if (::rename(dir.c_str(), away.c_str()) != 0) return sys_error(errno, fmt::format("cannot remove index {}", dir));
    lock.value().release();
    fs::remove_all(away, ec);
    if (ec) return sys_error(ec.value(), fmt::format("index {} was moved to {} but not removed", dir, away));
    return e;
}

std::vector<std::string> remove_prune_leftovers(const std::string& root) {
    std::vector<std::string> found, removed;
    std::error_code ec;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        std::error_code type_ec;
        if (name.starts_with('.') && name.ends_with(kLeftoverSuffix) && !it->is_symlink(type_ec) &&
            it->is_directory(type_ec))
            found.push_back(it->path().string());
    }
    for (const auto& path : found) {
        std::error_code rm;
        fs::remove_all(path, rm);
        if (!rm) removed.push_back(path);
    }
    return removed;
}

}  // namespace bcl::ctl
