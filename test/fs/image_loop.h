// A loop device over an image file the test owns, for end-to-end tests
// that need a block device: a cache on a device, a backing file system to
// break. Attached with losetup, detached (exactly that device) on
// destruction, also when the test fails.
//
// Thread safety: for one test thread.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace bcl::test
