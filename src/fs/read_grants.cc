#include "read_grants.h"

#include <algorithm>

namespace bcl {

std::optional<ReadGrants::Grant> ReadGrants::find(const CallerId& caller) const {
    std::lock_guard lk(mutex_);
    for (const Entry& e : entries_)
        if (e.caller == caller) return e.grant;
    return std::nullopt;
}

void ReadGrants::add(const CallerId& caller, const Grant& grant) {
    std::lock_guard lk(mutex_);
    for (Entry& e : entries_) {
        if (e.caller == caller) {
            if (grant.checked_ns >= e.grant.checked_ns) e.grant = grant;
            return;
        }
    }
    if (entries_.size() < kMaxCallers) {
        entries_.push_back(Entry{caller, grant});
        return;
    }
    auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
        return a.grant.checked_ns < b.grant.checked_ns;
    });
    *oldest = Entry{caller, grant};
}

void ReadGrants::clear() {
    std::lock_guard lk(mutex_);
    entries_.clear();
}

}  // namespace bcl
