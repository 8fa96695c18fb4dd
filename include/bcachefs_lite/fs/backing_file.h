// BackingFile: the backing descriptor of one open file of the mount. An
// open normally opens the backing file at once; an open the cache answered
// within its coherency window (FileData::open_checked) opens it only when
// something first needs it (a miss, a check once the window is over, an
// fsync), with the opener given, so that a warm re-read of a tree makes no
// call on the backing directory at all.
//
// Thread safety: fd() may be called from several requests of one open
// file at once; the opener runs at most once at a time, and once it
// succeeded the descriptor stays until destruction.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>

#include "bcachefs_lite/cache/backing_source.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

class BackingFile final : public BackingSource {
public:
    // Opens the backing file and returns a descriptor the BackingFile owns.
    using Opener = std::function<Result<int>()>;

    // A descriptor open already, owned from now on.
    explicit BackingFile(int fd) : fd_(fd) {}
    // Opened by `open` on first use.
    explicit BackingFile(Opener open) : open_(std::move(open)) {}
    ~BackingFile();
    BackingFile(const BackingFile&) = delete;
    BackingFile& operator=(const BackingFile&) = delete;

    // The descriptor, opening it now if it is not open yet; the opener's
    // error otherwise (tried again on the next call).
    Result<int> fd() override;
    // The descriptor if it is open, else -1; never opens.
    int opened() const { return fd_.load(std::memory_order_acquire); }

private:
    std::mutex mutex_;
    std::atomic<int> fd_{-1};
    Opener open_;
};

}  // namespace bcl
