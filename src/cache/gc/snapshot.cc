#include "gc/snapshot.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstring>

#include "bcachefs_lite/util/crc32c.h"
#include "bcachefs_lite/util/le_bytes.h"

namespace bcl {
namespace {

constexpr std::string_view kMagic{"bclgcs1\0", 8};

Error corrupt(std::string_view why) { return make_error(Errc::corrupt, fmt::format("GC snapshot: {}", why)); }

}  // namespace

GcSnapshot take_gc_snapshot(const AllocSet& alloc) {
    GcSnapshot s;
    for (unsigned d = 0; d < alloc.ndevices(); ++d) {
        const CacheAllocator& ca = alloc.device(d);
        std::vector<GcSnapshot::Bucket> buckets(ca.geometry().nbuckets);
        for (std::uint64_t b = ca.geometry().first_bucket; b < buckets.size(); ++b) {
            const BucketInfo info = ca.bucket(b);
            buckets[b] = GcSnapshot::Bucket{info.mark, info.sectors_used};
        }
        s.devices.push_back(std::move(buckets));
    }
    return s;
}

std::string encode_gc_snapshot(const GcSnapshot& s) {
    std::string out(kMagic);
    append_le<std::uint64_t>(out, s.sequence);
    append_le<std::uint32_t>(out, static_cast<std::uint32_t>(s.devices.size()));
    for (std::uint64_t v : {s.extents, s.live, s.dirty_bytes, s.pinned_bytes}) append_le<std::uint64_t>(out, v);
    for (const auto& buckets : s.devices) {
        append_le<std::uint64_t>(out, buckets.size());
        for (const GcSnapshot::Bucket& b : buckets) {
            append_le<std::uint8_t>(out, static_cast<std::uint8_t>(b.mark));
            append_le<std::uint16_t>(out, b.sectors);
        }
    }
    append_le<std::uint32_t>(out, crc32c(0, out.data(), out.size()));
    return out;
}

Result<GcSnapshot> decode_gc_snapshot(std::string_view bytes) {
    if (bytes.size() < kMagic.size() + 4 || bytes.substr(0, kMagic.size()) != kMagic) return corrupt("not one");
    const std::string_view body = bytes.substr(0, bytes.size() - 4);
    std::uint32_t crc = 0;
    LeReader tail(bytes.substr(bytes.size() - 4));
    tail.get(crc);
    if (crc != crc32c(0, body.data(), body.size())) return corrupt("checksum mismatch");
    LeReader r(body.substr(kMagic.size()));
    GcSnapshot s;
    std::uint32_t ndev = 0;
    if (!r.get(s.sequence) || !r.get(ndev) || !r.get(s.extents) || !r.get(s.live) || !r.get(s.dirty_bytes) ||
        !r.get(s.pinned_bytes))
        return corrupt("truncated header");
    for (std::uint32_t d = 0; d < ndev; ++d) {
        std::uint64_t n = 0;
        if (!r.get(n) || n > r.left() / 3) return corrupt("truncated device");
        std::vector<GcSnapshot::Bucket> buckets(n);
        for (auto& b : buckets) {
            std::uint8_t mark = 0;
            r.get(mark);
            r.get(b.sectors);
            if (mark > static_cast<std::uint8_t>(GcMark::pinned)) return corrupt("unknown mark");
            b.mark = static_cast<GcMark>(mark);
        }
        s.devices.push_back(std::move(buckets));
    }
    if (r.left() != 0) return corrupt("trailing bytes");
    return s;
}

namespace {

Status write_all(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error(errno, "write " + path);
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return ok();
}

}  // namespace

Status save_gc_snapshot_file(const std::string& index_dir, const GcSnapshot& snapshot) {
    const std::string path = index_dir + "/" + std::string(kGcSnapshotFile);
    const std::string tmp = path + ".new";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return sys_error(errno, "create " + tmp);
    Status st = write_all(fd, encode_gc_snapshot(snapshot), tmp);
    if (st && ::fsync(fd) != 0) st = sys_error(errno, "fsync " + tmp);
    ::close(fd);
    if (st && ::rename(tmp.c_str(), path.c_str()) != 0) st = sys_error(errno, "rename " + tmp);
    if (!st) {
        ::unlink(tmp.c_str());
        return st;
    }
    const int dir = ::open(index_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return sys_error(errno, "open " + index_dir);
    const int rc = ::fsync(dir);
    const int err = errno;
    ::close(dir);
    if (rc != 0) return sys_error(err, "fsync " + index_dir);
    return ok();
}

Result<std::optional<GcSnapshot>> take_gc_snapshot_file(const std::string& index_dir) {
    const std::string path = index_dir + "/" + std::string(kGcSnapshotFile);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::optional<GcSnapshot>();
        return sys_error(errno, "open " + path);
    }
    std::string bytes;
    char buf[1 << 16];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<std::size_t>(n));
    const int err = errno;
    ::close(fd);
    // Used once: what this mount changes is not in it.
    if (::unlink(path.c_str()) != 0) return sys_error(errno, "unlink " + path);
    if (n < 0) return sys_error(err, "read " + path);
    auto snapshot = decode_gc_snapshot(bytes);
    if (!snapshot) return snapshot.error();
    return std::optional<GcSnapshot>(std::move(snapshot).value());
}

}  // namespace bcl
