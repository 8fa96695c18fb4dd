#include "read_grants.h"

#include <algorithm>
#include <cstring>

#include "bcachefs_lite/util/le_bytes.h"

namespace bcl {
namespace {

// The saved form (save(), restore()): a version byte, the count of files,
// then each file's key and grants, every number little-endian.
constexpr std::uint8_t kSavedVersion = 1;
constexpr std::uint32_t kMaxGroups = 65536;  // NGROUPS_MAX

void put_time(std::string& out, const struct statx_timestamp& t) {
    append_le(out, t.tv_sec);
    append_le(out, t.tv_nsec);
}
bool get_time(LeReader& r, struct statx_timestamp& t) { return r.get(t.tv_sec) && r.get(t.tv_nsec); }

// The fields of a statx that the engine and the renewal look at.
void put_stx(std::string& out, const struct statx& stx) {
    append_le(out, stx.stx_mask);
    append_le(out, stx.stx_mode);
    append_le(out, stx.stx_nlink);
    append_le(out, stx.stx_uid);
    append_le(out, stx.stx_gid);
    append_le(out, stx.stx_size);
    append_le(out, stx.stx_blocks);
    append_le(out, stx.stx_ino);
    append_le(out, stx.stx_dev_major);
    append_le(out, stx.stx_dev_minor);
    put_time(out, stx.stx_atime);
    put_time(out, stx.stx_mtime);
    put_time(out, stx.stx_ctime);
    put_time(out, stx.stx_btime);
}

bool get_stx(LeReader& r, struct statx& stx) {
    std::memset(&stx, 0, sizeof stx);
    return r.get(stx.stx_mask) && r.get(stx.stx_mode) && r.get(stx.stx_nlink) && r.get(stx.stx_uid) &&
           r.get(stx.stx_gid) && r.get(stx.stx_size) && r.get(stx.stx_blocks) && r.get(stx.stx_ino) &&
           r.get(stx.stx_dev_major) && r.get(stx.stx_dev_minor) && get_time(r, stx.stx_atime) &&
           get_time(r, stx.stx_mtime) && get_time(r, stx.stx_ctime) && get_time(r, stx.stx_btime);
}

}  // namespace

std::optional<ReadGrants::Grant> ReadGrants::find(const FileKey& key, const CallerId& caller) const {
    std::lock_guard lk(mutex_);
    auto it = files_.find(key);
    if (it == files_.end()) return std::nullopt;
    for (const Entry& e : it->second)
        if (e.caller == caller) return e.grant;
    return std::nullopt;
}

void ReadGrants::add(const FileKey& key, const CallerId& caller, const Grant& grant) {
    std::lock_guard lk(mutex_);
    if (files_.size() >= kMaxFiles && !files_.contains(key)) files_.clear();
    std::vector<Entry>& entries = files_[key];
    for (Entry& e : entries) {
        if (e.caller == caller) {
            if (grant.checked_ns >= e.grant.checked_ns) e.grant = grant;
            return;
        }
    }
    if (entries.size() < kMaxCallers) {
        entries.push_back(Entry{caller, grant});
        return;
    }
    auto oldest = std::min_element(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.grant.checked_ns < b.grant.checked_ns;
    });
    *oldest = Entry{caller, grant};
}

void ReadGrants::renew(const FileKey& key, const struct stat& st, std::int64_t checked_ns) {
    std::lock_guard lk(mutex_);
    auto it = files_.find(key);
    if (it == files_.end()) return;
    for (Entry& e : it->second) {
        const struct statx& was = e.grant.stx;
        const bool same = was.stx_size == static_cast<std::uint64_t>(st.st_size) && was.stx_mode == st.st_mode &&
                          was.stx_mtime.tv_sec == st.st_mtim.tv_sec &&
                          was.stx_mtime.tv_nsec == static_cast<std::uint32_t>(st.st_mtim.tv_nsec) &&
                          was.stx_ctime.tv_sec == st.st_ctim.tv_sec &&
                          was.stx_ctime.tv_nsec == static_cast<std::uint32_t>(st.st_ctim.tv_nsec);
        if (same && checked_ns > e.grant.checked_ns) e.grant.checked_ns = checked_ns;
    }
}

void ReadGrants::forget(const FileKey& key) {
    std::lock_guard lk(mutex_);
    files_.erase(key);
}

std::string ReadGrants::save() const {
    std::lock_guard lk(mutex_);
    std::string out;
    append_le(out, kSavedVersion);
    append_le(out, static_cast<std::uint32_t>(files_.size()));
    for (const auto& [key, entries] : files_) {
        append_le(out, static_cast<std::uint64_t>(key.dev));
        append_le(out, static_cast<std::uint64_t>(key.ino));
        append_le(out, static_cast<std::uint8_t>(entries.size()));
        for (const Entry& e : entries) {
            append_le(out, e.caller.uid);
            append_le(out, e.caller.gid);
            append_le(out, static_cast<std::uint32_t>(e.caller.groups.size()));
            for (gid_t g : e.caller.groups) append_le(out, g);
            put_stx(out, e.grant.stx);
        }
    }
    return out;
}

Status ReadGrants::restore(std::string_view bytes) {
    const auto corrupt = [] { return make_error(Errc::corrupt, "the saved read grants do not decode"); };
    LeReader r(bytes);
    std::uint8_t version = 0;
    std::uint32_t nfiles = 0;
    if (!r.get(version) || version != kSavedVersion || !r.get(nfiles) || nfiles > kMaxFiles) return corrupt();
    std::map<FileKey, std::vector<Entry>> restored;
    for (std::uint32_t f = 0; f < nfiles; ++f) {
        std::uint64_t dev = 0, ino = 0;
        std::uint8_t n = 0;
        if (!r.get(dev) || !r.get(ino) || !r.get(n) || n > kMaxCallers) return corrupt();
        // save() writes each file once.
        const auto [it, added] =
            restored.try_emplace(FileKey{static_cast<dev_t>(dev), static_cast<ino_t>(ino)}, std::vector<Entry>());
        if (!added) return corrupt();
        std::vector<Entry>& entries = it->second;
        for (std::uint8_t i = 0; i < n; ++i) {
            Entry e;
            std::uint32_t ngroups = 0;
            if (!r.get(e.caller.uid) || !r.get(e.caller.gid) || !r.get(ngroups) || ngroups > kMaxGroups)
                return corrupt();
            e.caller.groups.resize(ngroups);
            for (gid_t& g : e.caller.groups)
                if (!r.get(g)) return corrupt();
            if (!get_stx(r, e.grant.stx)) return corrupt();
            e.grant.checked_ns = 0;  // never (CoherencyWindow::holds)
            entries.push_back(std::move(e));
        }
    }
    if (r.left() != 0) return corrupt();
    std::lock_guard lk(mutex_);
    for (auto& [key, entries] : restored) {
        if (files_.size() >= kMaxFiles) break;
        // A grant of this mount is newer than any restored one.
        if (!files_.contains(key)) files_.emplace(key, std::move(entries));
    }
    return ok();
}

}  // namespace bcl
