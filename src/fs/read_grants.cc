#include "read_grants.h"

#include <algorithm>
#include <cstring>

namespace bcl {
namespace {

// The saved form (save(), restore()): a version byte, the count of files,
// then each file's key and grants, every number little-endian.
constexpr std::uint8_t kSavedVersion = 1;
constexpr std::uint32_t kMaxGroups = 65536;  // NGROUPS_MAX

class Writer {
public:
    template <typename T>
    void put(T value) {
        auto v = static_cast<std::uint64_t>(value);
        for (std::size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    void put_time(const struct statx_timestamp& t) {
        put(t.tv_sec);
        put(t.tv_nsec);
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}
    template <typename T>
    bool get(T& value) {
        if (in_.size() - pos_ < sizeof(T)) return false;
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i)
            v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in_[pos_ + i])) << (8 * i);
        pos_ += sizeof(T);
        value = static_cast<T>(v);
        return true;
    }
    bool get_time(struct statx_timestamp& t) { return get(t.tv_sec) && get(t.tv_nsec); }
    bool done() const { return pos_ == in_.size(); }

private:
    std::string_view in_;
    std::size_t pos_ = 0;
};

// The fields of a statx that the engine and the renewal look at.
void put_stx(Writer& w, const struct statx& stx) {
    w.put(stx.stx_mask);
    w.put(stx.stx_mode);
    w.put(stx.stx_nlink);
    w.put(stx.stx_uid);
    w.put(stx.stx_gid);
    w.put(stx.stx_size);
    w.put(stx.stx_blocks);
    w.put(stx.stx_ino);
    w.put(stx.stx_dev_major);
    w.put(stx.stx_dev_minor);
    w.put_time(stx.stx_atime);
    w.put_time(stx.stx_mtime);
    w.put_time(stx.stx_ctime);
    w.put_time(stx.stx_btime);
}

bool get_stx(Reader& r, struct statx& stx) {
    std::memset(&stx, 0, sizeof stx);
    return r.get(stx.stx_mask) && r.get(stx.stx_mode) && r.get(stx.stx_nlink) && r.get(stx.stx_uid) &&
           r.get(stx.stx_gid) && r.get(stx.stx_size) && r.get(stx.stx_blocks) && r.get(stx.stx_ino) &&
           r.get(stx.stx_dev_major) && r.get(stx.stx_dev_minor) && r.get_time(stx.stx_atime) &&
           r.get_time(stx.stx_mtime) && r.get_time(stx.stx_ctime) && r.get_time(stx.stx_btime);
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
    Writer w;
    w.put(kSavedVersion);
    w.put(static_cast<std::uint32_t>(files_.size()));
    for (const auto& [key, entries] : files_) {
        w.put(static_cast<std::uint64_t>(key.dev));
        w.put(static_cast<std::uint64_t>(key.ino));
        w.put(static_cast<std::uint8_t>(entries.size()));
        for (const Entry& e : entries) {
            w.put(e.caller.uid);
            w.put(e.caller.gid);
            w.put(static_cast<std::uint32_t>(e.caller.groups.size()));
            for (gid_t g : e.caller.groups) w.put(g);
            put_stx(w, e.grant.stx);
        }
    }
    return w.take();
}

Status ReadGrants::restore(std::string_view bytes) {
    const auto corrupt = [] { return make_error(Errc::corrupt, "the saved read grants do not decode"); };
    Reader r(bytes);
    std::uint8_t version = 0;
    std::uint32_t nfiles = 0;
    if (!r.get(version) || version != kSavedVersion || !r.get(nfiles) || nfiles > kMaxFiles) return corrupt();
    std::map<FileKey, std::vector<Entry>> restored;
    for (std::uint32_t f = 0; f < nfiles; ++f) {
        std::uint64_t dev = 0, ino = 0;
        std::uint8_t n = 0;
        if (!r.get(dev) || !r.get(ino) || !r.get(n) || n > kMaxCallers) return corrupt();
        std::vector<Entry>& entries = restored[FileKey{static_cast<dev_t>(dev), static_cast<ino_t>(ino)}];
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
    if (!r.done()) return corrupt();
    std::lock_guard lk(mutex_);
    for (auto& [key, entries] : restored) {
        if (files_.size() >= kMaxFiles) break;
        // A grant of this mount is newer than any restored one.
        if (!files_.contains(key)) files_.emplace(key, std::move(entries));
    }
    return ok();
}

}  // namespace bcl
