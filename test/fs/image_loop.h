// A loop device over an image file the test owns, for end-to-end tests
// that need a block device: a cache on a device, a backing file system to
// break. Attached with losetup, detached (exactly that device) on
// destruction, also when the test fails.
//
// Thread safety: for one test thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "test_mount.h"

namespace bcl::test {

class ImageLoop {
public:
    // Why loop devices cannot be used here (not root, no loop-control, no
    // losetup), or empty.
    static std::string skip_reason();

    // Attaches the existing image file; device() is empty and error() says
    // why when that fails.
    explicit ImageLoop(std::string image);
    ~ImageLoop();
    ImageLoop(const ImageLoop&) = delete;
    ImageLoop& operator=(const ImageLoop&) = delete;

    const std::string& device() const { return device_; }
    const std::string& error() const { return error_; }
    const std::string& image() const { return image_; }

    // Cuts the image to `size` (truncate(1)'s syntax) and makes the loop
    // device see it (losetup -c): reads past the new end come up short,
    // writes there fail with ENOSPC. Empty on success, else why not.
    std::string shrink(const std::string& size);
    // Bytes the image file takes on its file system (st_blocks * 512).
    std::uint64_t allocated() const;
    // The loop device's discard_max_bytes: 0 when it cannot discard.
    std::uint64_t discard_max_bytes() const;

private:
    std::string image_, device_, error_;
};

// Creates (or truncates) a sparse file of `bytes`; empty on success.
std::string make_sparse_file(const std::string& path, std::uint64_t bytes);

// A cache on a loop device, mounted: a sparse image of its own in a
// temporary directory, a loop device over it formatted with
// bcachefs-lite-ctl, and a TestMount with cache=DEVICE. Destruction
// unmounts first, then detaches the loop device.
struct LoopCacheMount {
    enum class Outcome { mounted, skip, failed };
    // `options` go after the mount's cache=DEVICE; `why` says what was
    // missing (skip) or went wrong (failed).
    Outcome start(std::uint64_t image_bytes, const std::string& bucket_size, const std::string& options,
                  std::string& why);
    ~LoopCacheMount() {
        mount.reset();
        loop.reset();
    }

    TempDir images;
    std::string image;
    std::unique_ptr<ImageLoop> loop;
    std::unique_ptr<TestMount> mount;
};

}  // namespace bcl::test
