// A BackingSource for engine tests: hands out a backing file's descriptor
// on request and counts the requests, or refuses them with an errno, as
// the lazy open of a backing file fails when the caller may no longer open
// it or the backing directory is gone.
//
// Thread safety: for use from one test thread.
#pragma once

#include "bcachefs_lite/cache/backing_source.h"
#include "bcachefs_lite/util/error.h"

namespace bcl::test {

class CountingSource final : public BackingSource {
public:
    explicit CountingSource(int fd, int refuse = 0) : fd_(fd), refuse_(refuse) {}
    Result<int> fd() override {
        ++asked;
        if (refuse_ != 0) return sys_error(refuse_, "opening the backing file");
        return fd_;
    }
    int asked = 0;

private:
    int fd_;
    int refuse_;
};

}  // namespace bcl::test
