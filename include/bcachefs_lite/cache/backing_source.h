// BackingSource: the backing file of a read, asked for its descriptor only
// when the read needs the backing file: a miss, or a check of the file once
// its coherency window (coherency_window.h) has passed. A read of cached
// data within the window never asks, so the fs layer may answer an open
// without opening the backing file and open it on the first read that
// needs it.
//
// Thread safety: fd() may be called from several reads of one open file at
// once; implementations open at most one descriptor.
#pragma once

#include "bcachefs_lite/util/error.h"

namespace bcl {

class BackingSource {
public:
    // The descriptor, valid until the source is destroyed; an error (the
    // open's errno) fails the read that asked.
    virtual Result<int> fd() = 0;

protected:
    ~BackingSource() = default;
};

// A descriptor open already.
class OpenBackingFd final : public BackingSource {
public:
    explicit OpenBackingFd(int fd) : fd_(fd) {}
    Result<int> fd() override { return fd_; }

private:
    int fd_;
};

}  // namespace bcl
