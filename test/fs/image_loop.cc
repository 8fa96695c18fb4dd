#include "image_loop.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "cache_e2e.h"
#include "test_mount.h"

namespace bcl::test {

namespace {

std::string losetup_path() {
    for (const char* p : {"/usr/sbin/losetup", "/sbin/losetup", "/usr/bin/losetup", "/bin/losetup"})
        if (::access(p, X_OK) == 0) return p;
    return {};
}

}  // namespace

std::string ImageLoop::skip_reason() {
    if (::geteuid() != 0) return "needs root to attach a loop device";
    if (::access("/dev/loop-control", F_OK) != 0) return "no /dev/loop-control";
    if (losetup_path().empty()) return "losetup is not installed";
    return {};
}

ImageLoop::ImageLoop(std::string image) : image_(std::move(image)) {
    RunResult r = run_program({losetup_path(), "--find", "--show", image_});
    if (!r.exited_with(0)) {
        error_ = r.err.empty() ? "losetup failed" : r.err;
        return;
    }
    device_ = r.err.substr(0, r.err.find('\n'));
}

ImageLoop::~ImageLoop() {
    if (!device_.empty()) run_program({losetup_path(), "-d", device_});
}

std::string ImageLoop::shrink(const std::string& size) {
    RunResult r = run_program({"truncate", "-s", size, image_});
    if (!r.exited_with(0)) return "truncate: " + r.err;
    r = run_program({losetup_path(), "-c", device_});
    return r.exited_with(0) ? std::string() : "losetup -c: " + r.err;
}

std::uint64_t ImageLoop::allocated() const {
    struct stat st {};
    if (::stat(image_.c_str(), &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

std::uint64_t ImageLoop::discard_max_bytes() const {
    const std::string name = device_.substr(device_.rfind('/') + 1);
    std::ifstream in("/sys/block/" + name + "/queue/discard_max_bytes");
    std::uint64_t bytes = 0;
    in >> bytes;
    return in ? bytes : 0;
}

std::string make_sparse_file(const std::string& path, std::uint64_t bytes) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return path + ": " + std::strerror(errno);
    const bool ok = ::ftruncate(fd, static_cast<off_t>(bytes)) == 0;
    const int err = errno;
    ::close(fd);
    return ok ? std::string() : path + ": " + std::strerror(err);
}

LoopCacheMount::Outcome LoopCacheMount::start(std::uint64_t image_bytes, const std::string& bucket_size,
                                              const std::string& options, std::string& why) {
    if (why = e2e_skip_reason(); !why.empty()) return Outcome::skip;
    if (why = ImageLoop::skip_reason(); !why.empty()) return Outcome::skip;
    if (ctl_path().empty()) {
        why = "BCL_CTL is not set (run the tests through meson test)";
        return Outcome::failed;
    }
    image = images.path() + "/cache.img";
    if (why = make_sparse_file(image, image_bytes); !why.empty()) return Outcome::failed;
    loop = std::make_unique<ImageLoop>(image);
    if (loop->device().empty()) {
        why = "no loop device: " + loop->error();
        return Outcome::skip;
    }
    RunResult f = run_program({ctl_path(), "format", loop->device(), "--bucket-size", bucket_size});
    if (!f.exited_with(0)) {
        why = "bcachefs-lite-ctl format: " + f.err;
        return Outcome::failed;
    }
    MountSpec spec;
    spec.options = options + ",cache=" + loop->device();
    spec.cache_size.clear();
    mount = std::make_unique<TestMount>(spec);
    if (!mount->mounted()) {
        why = mount->error();
        return Outcome::failed;
    }
    return Outcome::mounted;
}

}  // namespace bcl::test
