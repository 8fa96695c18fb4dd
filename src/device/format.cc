#include "bcachefs_lite/device/format.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "bcachefs_lite/device/file_device.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/size.h"

namespace bcl {

namespace {

constexpr int kWipeRounds = 8;

// Checks what can be checked from the options alone.
Status validate_options(const FormatOptions& o) {
    BCL_TRY(validate_sizes(o.block_size, o.bucket_size));
    if (o.size && *o.size < min_device_size(o.bucket_size))
        return make_error(Errc::no_space, fmt::format("size {} is too small: a cache with {} buckets needs at "
                                                      "least {} ({} bytes)",
                                                      format_size_approx(*o.size), format_size(o.bucket_size),
                                                      format_size_approx(min_device_size(o.bucket_size)),
                                                      min_device_size(o.bucket_size)));
    return ok();
}

Status check_geometry(const BlockDevice& dev, const FormatOptions& o) {
    if (dev.size() < min_device_size(o.bucket_size))
        return make_error(
            Errc::no_space,
            fmt::format("{} is too small ({}): a cache with {} buckets needs at "
                        "least {} ({} bytes)",
                        dev.path(), format_size_approx(dev.size()), format_size(o.bucket_size),
                        format_size_approx(min_device_size(o.bucket_size)), min_device_size(o.bucket_size)));
    if (dev.logical_block_size() > o.block_size)
        return make_error(Errc::invalid, fmt::format("{} has {}-byte logical blocks; the block size must be at "
                                                     "least that",
                                                     dev.path(), dev.logical_block_size()));
    return ok();
}

// Refuses a device that already holds our superblock, unless force.
Status check_not_ours(BlockDevice& dev, bool force) {
    AlignedBuffer block(kSuperblockSize, dev.logical_block_size());
    BCL_TRY(dev.read(kSuperblockOffset, block.span()));
    if (force || !has_superblock_magic(block.span())) return ok();
    auto old = decode_superblock(block.span());
    const std::string what = old ? fmt::format("a bcachefs-lite cache (UUID {})", uuid_to_string(old.value().uuid))
                                 : std::string("a damaged bcachefs-lite superblock");
    return make_error(Errc::exists, fmt::format("{} already holds {}; use --force to overwrite", dev.path(), what));
}

// Zeroes the magic bytes of each signature, a block at a time, so no tool
// mistakes the new cache for what was there before.
Status wipe_signatures(BlockDevice& dev, const std::vector<Signature>& sigs) {
    const std::uint32_t lbs = dev.logical_block_size();
    for (const Signature& s : sigs) {
        if (s.length == 0 || s.offset >= dev.size()) continue;
        const std::uint64_t end = std::min(dev.size(), s.offset + s.length);
        const std::uint64_t start = round_down(s.offset, lbs);
        const std::uint64_t len = round_up(end, lbs) - start;
        AlignedBuffer buf(len, lbs);
        BCL_TRY(dev.read(start, buf.span()));
        std::memset(buf.data() + (s.offset - start), 0, end - s.offset);
        BCL_TRY(dev.write(start, buf.span()));
    }
    return ok();
}

// Where a device goes in a set (all zero for a device alone).
struct Membership {
    Uuid set_uuid{};
    std::uint8_t nr_in_set = 0;
    std::uint8_t dev_idx = 0;
};

Result<Superblock> write_superblock(BlockDevice& dev, const FormatOptions& o, const Membership& m = {}) {
    Superblock sb;
    sb.flags = o.discard ? kSbFlagDiscard : 0;
    sb.uuid = random_uuid();
    sb.block_size = o.block_size;
    sb.bucket_size = o.bucket_size;
    sb.nbuckets = dev.size() / o.bucket_size;
    sb.first_bucket = first_bucket_for(o.bucket_size);
    sb.replacement = o.replacement;
    sb.created = static_cast<std::uint64_t>(std::time(nullptr));
    sb.set_uuid = m.set_uuid;
    sb.nr_in_set = m.nr_in_set;
    sb.dev_idx = m.dev_idx;
    BCL_TRY(validate_superblock(sb));

    if (o.discard) {
        // Best effort: a device that cannot discard is still a fine cache.
        auto st = dev.discard(sb.bucket_offset(sb.first_bucket), sb.capacity());
        if (!st && st.error().code != Errc::unsupported) return st.error();
    }
    BCL_TRY(rewrite_superblock(dev, sb));
    return sb;
}

Status check_set_size(std::size_t n) {
    if (n < 2 || n > kMaxSetDevices)
        return make_error(Errc::invalid, fmt::format("a cache set has 2 to {} devices, not {}", kMaxSetDevices, n));
    return ok();
}

// Removes a file format_device created if the format then fails, so a
// refusal leaves nothing behind.
class CreatedFile {
public:
    CreatedFile() = default;
    CreatedFile(const CreatedFile&) = delete;
    CreatedFile& operator=(const CreatedFile&) = delete;
    ~CreatedFile() {
        if (path_.empty()) return;
        if (unlink_)
            ::unlink(path_.c_str());
        else if (::truncate(path_.c_str(), 0) != 0) {
            // Nothing better to do: the format failed already and says so.
        }
    }
    Status create(const std::string& path, std::uint64_t size, bool exists) {
        // Private from birth (make_private_if_file sets the exact mode).
        int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | (exists ? 0 : O_CREAT | O_EXCL), 0600);
        if (fd < 0) return sys_error(errno, path);
        path_ = path;
        unlink_ = !exists;
        const int rc = ::ftruncate(fd, static_cast<off_t>(size));
        const int err = errno;
        ::close(fd);
        if (rc != 0) return sys_error(err, path + ": cannot set the size");
        return ok();
    }
    void keep() { path_.clear(); }

private:
    std::string path_;
    bool unlink_ = false;
};

}  // namespace

Result<Superblock> format_block_device(BlockDevice& device, const FormatOptions& options) {
    if (options.size) return make_error(Errc::invalid, "a size applies only when formatting a file by path");
    BCL_TRY(validate_options(options));
    BCL_TRY(check_geometry(device, options));
    BCL_TRY(check_not_ours(device, options.force));
    return write_superblock(device, options);
}

Status rewrite_superblock(BlockDevice& dev, const Superblock& sb) {
    BCL_TRY(validate_superblock(sb));
    const auto block = encode_superblock(sb);
    AlignedBuffer buf(kSuperblockSize, dev.logical_block_size());
    std::memcpy(buf.data(), block.data(), block.size());
    BCL_TRY(dev.write(kSuperblockOffset, buf.span()));
    return dev.flush();
}

namespace {

// A device or file checked and ready to be formatted: nothing is written
// to it until write_prepared().
struct PreparedPath {
    std::string path;
    std::unique_ptr<CreatedFile> created;
    std::unique_ptr<FileDevice> dev;
    std::vector<Signature> signatures;
};

Result<PreparedPath> prepare_path(const std::string& path, const FormatOptions& options) {
    struct stat st {};
    const bool exists = ::stat(path.c_str(), &st) == 0;
    if (!exists && errno != ENOENT) return sys_error(errno, path);
    if (!exists && !options.size)
        return make_error(Errc::not_found, path + ": No such file or directory (use --size to create a file)");
    if (exists) {
        if (S_ISDIR(st.st_mode)) return make_error(Errc::invalid, path + " is a directory");
        if (S_ISBLK(st.st_mode) && options.size)
            return make_error(Errc::invalid, path + " is a block device; a size applies only to regular files");
        if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
            return make_error(Errc::invalid, path + " is neither a block device nor a regular file");
        if (S_ISREG(st.st_mode) && options.size && st.st_size != 0 &&
            static_cast<std::uint64_t>(st.st_size) != *options.size)
            return make_error(Errc::invalid,
                              fmt::format("{} already exists with size {}; a size applies only to "
                                          "new or empty files",
                                          path, format_size_approx(static_cast<std::uint64_t>(st.st_size))));
    }

    PreparedPath out;
    out.path = path;
    out.created = std::make_unique<CreatedFile>();
    if (options.size && (!exists || st.st_size == 0)) BCL_TRY(out.created->create(path, *options.size, exists));

    auto dev_r = FileDevice::open(path);
    if (!dev_r) return dev_r.error();
    out.dev = std::move(dev_r).value();
    BCL_TRY(check_geometry(*out.dev, options));
    BCL_TRY(check_not_ours(*out.dev, options.force));

    auto sigs = probe_signatures(path);
    if (!sigs) return sigs.error();
    if (!sigs.value().empty() && !options.force) {
        const Signature& s = sigs.value().front();
        return make_error(Errc::exists, fmt::format("{} already holds a {} signature ({}); use --force to "
                                                    "overwrite",
                                                    path, s.usage, s.type));
    }
    out.signatures = std::move(sigs).value();
    return out;
}

// A cache file will hold the cached data of files other users may not
// read: it is made 0600, whatever the umask. A block device's node belongs
// to udev and keeps its mode (the mount refuses one that every user may
// read).
Status make_private_if_file(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return sys_error(errno, path);
    if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) == kPrivateFileMode) return ok();
    if (::chmod(path.c_str(), kPrivateFileMode) != 0)
        return sys_error(errno, path + ": cannot make it private (chmod 600)");
    return ok();
}

Result<Superblock> write_prepared(PreparedPath& p, const FormatOptions& options, const Membership& m) {
    BCL_TRY(make_private_if_file(p.path));
    // Everything is checked; from here on the device changes. Wiping one
    // signature can uncover another (a protective MBR under a GPT header),
    // so probe again until nothing is left, as wipefs does.
    std::vector<Signature> left = std::move(p.signatures);
    for (int round = 0; !left.empty() && round < kWipeRounds; ++round) {
        BCL_TRY(wipe_signatures(*p.dev, left));
        auto again = probe_signatures(p.path);
        if (!again) return again.error();
        left = std::move(again).value();
    }
    auto sb = write_superblock(*p.dev, options, m);
    if (sb) p.created->keep();
    return sb;
}

// The identity of the file or block device at path, to refuse one given twice.
std::pair<std::uint64_t, std::uint64_t> identity_of(const struct stat& st) {
    if (S_ISBLK(st.st_mode)) return {0, st.st_rdev};
    return {st.st_dev, st.st_ino};
}

}  // namespace

Result<Superblock> format_device(const std::string& path, const FormatOptions& options) {
    BCL_TRY(validate_options(options));
    auto prepared = prepare_path(path, options);
    if (!prepared) return prepared.error();
    return write_prepared(prepared.value(), options, Membership{});
}

Result<std::vector<Superblock>> format_set(const std::vector<std::string>& paths, const FormatOptions& options) {
    BCL_TRY(check_set_size(paths.size()));
    BCL_TRY(validate_options(options));
    std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;
    for (const std::string& path : paths) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) continue;  // prepare_path says why, or creates it
        const auto id = identity_of(st);
        if (std::find(seen.begin(), seen.end(), id) != seen.end())
            return make_error(Errc::invalid, fmt::format("{} is given twice for one cache set", path));
        seen.push_back(id);
    }
    std::vector<PreparedPath> prepared;
    for (const std::string& path : paths) {
        if (std::count(paths.begin(), paths.end(), path) > 1)
            return make_error(Errc::invalid, fmt::format("{} is given twice for one cache set", path));
        auto p = prepare_path(path, options);
        if (!p) return p.error();
        prepared.push_back(std::move(p).value());
    }
    Membership m;
    m.set_uuid = random_uuid();
    m.nr_in_set = static_cast<std::uint8_t>(paths.size());
    std::vector<Superblock> out;
    for (std::size_t i = 0; i < prepared.size(); ++i) {
        m.dev_idx = static_cast<std::uint8_t>(i);
        auto sb = write_prepared(prepared[i], options, m);
        if (!sb) return sb.error();
        out.push_back(sb.value());
    }
    return out;
}

Result<std::vector<Superblock>> format_block_device_set(const std::vector<BlockDevice*>& devices,
                                                        const FormatOptions& options) {
    BCL_TRY(check_set_size(devices.size()));
    if (options.size) return make_error(Errc::invalid, "a size applies only when formatting a file by path");
    BCL_TRY(validate_options(options));
    for (std::size_t i = 0; i < devices.size(); ++i) {
        if (std::count(devices.begin(), devices.end(), devices[i]) > 1)
            return make_error(Errc::invalid, fmt::format("{} is given twice for one cache set", devices[i]->path()));
        BCL_TRY(check_geometry(*devices[i], options));
        BCL_TRY(check_not_ours(*devices[i], options.force));
    }
    Membership m;
    m.set_uuid = random_uuid();
    m.nr_in_set = static_cast<std::uint8_t>(devices.size());
    std::vector<Superblock> out;
    for (std::size_t i = 0; i < devices.size(); ++i) {
        m.dev_idx = static_cast<std::uint8_t>(i);
        auto sb = write_superblock(*devices[i], options, m);
        if (!sb) return sb.error();
        out.push_back(sb.value());
    }
    return out;
}

}  // namespace bcl
