#include "read_grants.h"

#include <algorithm>

namespace bcl {

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

}  // namespace bcl
