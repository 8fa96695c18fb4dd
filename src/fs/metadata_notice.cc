#include "metadata_notice.h"

#include <fcntl.h>

namespace bcl {

namespace {

std::optional<struct statx> statx_of(int fd) {
    struct statx stx;
    if (fd < 0 || ::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0)
        return std::nullopt;
    return stx;
}

bool same_time(const struct statx_timestamp& a, const struct statx_timestamp& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

MetadataNotice::MetadataNotice(FileData& data, int fd) : data_(data), fd_(fd) { restart(); }

MetadataNotice::MetadataNotice(FileData& data, int dirfd, const char* name)
    : data_(data), owned_(::openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)), fd_(owned_.get()) {
    restart();
}

void MetadataNotice::restart() {
    before_ = statx_of(fd_);
    watching_ = !silent_ && before_ && S_ISREG(before_->stx_mode);
}

void MetadataNotice::finish() {
    if (!watching_) return;
    watching_ = false;
    const auto after = statx_of(fd_);
    if (!after) return;
    const struct statx& before = *before_;
    if (after->stx_size == before.stx_size && same_time(after->stx_mtime, before.stx_mtime) &&
        same_time(after->stx_ctime, before.stx_ctime))
        return;
    if (!key_) {
        data_.metadata_changed(file_key_of(before), before, *after);
        return;
    }
    data_.metadata_changed(*key_, with_key(before, *key_), with_key(*after, *key_));
}

}  // namespace bcl
