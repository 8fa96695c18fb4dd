#include "index_survey.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <system_error>

#include "bcachefs_lite/cache/fsck.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/index/index.h"

namespace bcl::ctl {

namespace {

namespace fs = std::filesystem;

enum class Probe { match, other, absent, error };

// Opens a device or file the way `show` does: read-only, never claimed.
Result<std::unique_ptr<CacheDevice>> open_superblock(const std::string& path) {
    FileDeviceOptions o;
    o.read_only = true;
    o.exclusive = false;
    return CacheDevice::open(path, o);
}

bool holds(const Superblock& sb, const Uuid& uuid) { return sb.uuid == uuid || sb.set_id() == uuid; }

// Whether `path` holds the cache `uuid`; `why` says what went wrong on error.
Probe probe_path(const std::string& path, const Uuid& uuid, std::string& why) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return Probe::absent;
        why = fmt::format("{}: {}", path, std::strerror(errno));
        return Probe::error;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) return Probe::other;
    auto dev = open_superblock(path);
    if (!dev) {
        // Not ours at all (overwritten, reformatted as something else).
        if (dev.error().code == Errc::foreign) return Probe::other;
        why = dev.error().message;
        return Probe::error;
    }
    return holds(dev.value()->superblock(), uuid) ? Probe::match : Probe::other;
}

// Bytes allocated to the directory and everything in it.
std::uint64_t disk_usage(const std::string& dir) {
    std::uint64_t bytes = 0;
    struct stat st;
    if (::lstat(dir.c_str(), &st) == 0) bytes += static_cast<std::uint64_t>(st.st_blocks) * 512;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
        if (::lstat(it->path().c_str(), &st) == 0) bytes += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
    return bytes;
}

void decide_presence(IndexEntry& e, BlockDeviceScan& scan) {
    const Uuid& uuid = *e.uuid;
    const std::vector<std::string> none;
    const auto& paths = e.last_mount ? e.last_mount->cache_paths : none;
    std::string doubt;
    bool under_dev = false;
    for (const auto& p : paths) {
        under_dev = under_dev || p.starts_with("/dev/");
        std::string why;
        switch (probe_path(p, uuid, why)) {
        case Probe::match:
            e.state = IndexState::present;
            e.found_at = p;
            return;
        case Probe::error:
            if (doubt.empty()) doubt = why;
            break;
        case Probe::other:
        case Probe::absent: break;
        }
    }
    if (std::string at = scan.find(uuid); !at.empty()) {
        e.state = IndexState::present;
        e.found_at = at;
        return;
    }
    e.state = IndexState::unknown;
    if (paths.empty())
        e.note = "no mount recorded where its cache is";
    else if (!doubt.empty())
        e.note = doubt;
    else if (under_dev && scan.incomplete())
        e.note = "not at its recorded paths, and some block devices could not be read";
    else
        e.state = IndexState::gone;
}

}  // namespace

std::string_view index_state_name(IndexState state) {
    switch (state) {
    case IndexState::present: return "present";
    case IndexState::gone: return "gone";
    case IndexState::unknown: return "unknown";
    case IndexState::mounted: return "mounted";
    case IndexState::unreadable: return "unreadable";
    case IndexState::not_an_index: return "not-an-index";
    }
    return "unknown";
}

std::string BlockDeviceScan::find(const Uuid& uuid) {
    scan();
    auto it = found_.find(uuid);
    return it == found_.end() ? std::string() : it->second;
}

bool BlockDeviceScan::incomplete() {
    scan();
    return incomplete_;
}

void BlockDeviceScan::scan() {
    if (scanned_) return;
    scanned_ = true;
    std::error_code ec;
    std::vector<std::string> names;
    for (fs::directory_iterator it("/sys/class/block", ec), end; !ec && it != end; it.increment(ec))
        names.push_back(it->path().filename().string());
    if (ec) {
        incomplete_ = true;
        return;
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        // An empty drive, an unbound loop or nbd device: nothing to read.
        std::ifstream size_file("/sys/class/block/" + name + "/size");
        std::uint64_t sectors = 0;
        if (!(size_file >> sectors) || sectors == 0) continue;
        const std::string path = "/dev/" + name;
        struct stat st;
        if (::stat(path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) continue;
        auto dev = open_superblock(path);
        if (!dev) {
            if (dev.error().code != Errc::foreign) incomplete_ = true;
            continue;
        }
        const Superblock& sb = dev.value()->superblock();
        found_.emplace(sb.uuid, path);
        found_.emplace(sb.set_id(), path);
    }
}

IndexEntry survey_index(const std::string& root, const std::string& name, BlockDeviceScan& scan, bool probe_lock) {
    IndexEntry e;
    e.name = name;
    e.dir = root + "/" + name;
    if (auto u = parse_uuid(name)) e.uuid = u.value();
    struct stat st;
    if (::lstat(e.dir.c_str(), &st) != 0) {
        e.state = IndexState::unreadable;
        e.note = std::strerror(errno);
        return e;
    }
    if (!S_ISDIR(st.st_mode)) {
        e.note = S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory";
        return e;
    }
    e.bytes = disk_usage(e.dir);
    if (::lstat((e.dir + "/CURRENT").c_str(), &st) != 0) {
        if (errno == ENOENT) {
            e.note = "holds no index";
        } else {
            e.state = IndexState::unreadable;
            e.note = fmt::format("{}: {}", e.dir, std::strerror(errno));
        }
        return e;
    }
    if (probe_lock) {
        if (auto unused = check_index_unused(e.dir); !unused) {
            if (unused.error().code == Errc::busy) {
                e.state = IndexState::mounted;
            } else {
                e.state = IndexState::unreadable;
                e.note = unused.error().message;
            }
            return e;
        }
    }
    IndexOptions io;
    io.read_only = true;
    io.block_cache_bytes = 1u << 20;
    io.max_open_files = 16;
    auto index = Index::open(e.dir, io);
    if (!index) {
        e.state = IndexState::unreadable;
        e.note = index.error().message;
        return e;
    }
    e.uuid = index.value()->cache_uuid();
    auto last = index.value()->last_mount();
    index.value().reset();
    if (last)
        e.last_mount = last.value();
    else
        e.note = last.error().message;
    const std::string note = e.note;
    decide_presence(e, scan);
    // An undecodable record counts as none; say why there is none.
    if (!note.empty() && e.state == IndexState::unknown) e.note = note;
    return e;
}

Result<std::vector<IndexEntry>> survey_indexes(const std::string& root, BlockDeviceScan& scan) {
    std::error_code ec;
    const auto status = fs::status(root, ec);
    if (!fs::exists(status)) {
        if (ec && ec != std::errc::no_such_file_or_directory)
            return sys_error(ec.value(), fmt::format("index root {}", root));
        return std::vector<IndexEntry>();
    }
    if (!fs::is_directory(status))
        return make_error(Errc::invalid, fmt::format("index root {} is not a directory", root));
    std::vector<std::string> names;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (!name.starts_with('.')) names.push_back(std::move(name));
    }
    if (ec) return sys_error(ec.value(), fmt::format("index root {}", root));
    std::sort(names.begin(), names.end());
    std::vector<IndexEntry> entries;
    for (const auto& name : names) entries.push_back(survey_index(root, name, scan));
    return entries;
}

}  // namespace bcl::ctl
