// The attributes of an inode, as the daemon last read them from the
// backing file, answered to getattr again for attr_timeout seconds while
// nothing changed through the mount: the kernel drops its own copy for
// reasons that change nothing on the backing (a read makes atime stale),
// and over a network each getattr would be a round trip. It is the same
// promise attr_timeout already makes for the kernel's copy: attributes may
// be that old, never older. Any request that may change attributes through
// the mount (ChangeEpoch) makes every cached copy stale.
//
// Thread safety: both classes may be used from any request thread.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>

namespace bcl {

// Counts requests that may change attributes: bumped when one starts and
// when it ends, so a copy taken at one epoch is stale once any change
// began after it, and no copy is used while one runs.
class ChangeEpoch {
public:
    // The current epoch; 0 while a change runs (use nothing cached then).
    std::uint64_t stable() const {
        const std::uint64_t epoch = epoch_.load();
        return running_.load() == 0 ? epoch : 0;
    }

    class Scope {
    public:
        explicit Scope(ChangeEpoch& e) : e_(e) {
            e_.running_.fetch_add(1);
            e_.epoch_.fetch_add(1);
        }
        ~Scope() {
            e_.epoch_.fetch_add(1);
            e_.running_.fetch_sub(1);
        }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        ChangeEpoch& e_;
    };

private:
    std::atomic<std::uint64_t> epoch_{1};
    std::atomic<std::uint64_t> running_{0};
};

class AttrCache {
public:
    // `st` was read at `at_ns` (steady clock), with the epoch sampled before.
    void store(const struct stat& st, std::uint64_t epoch, std::int64_t at_ns) {
        if (epoch == 0) return;
        std::lock_guard lk(mutex_);
        st_ = st;
        epoch_ = epoch;
        at_ns_ = at_ns;
    }
    // The copy, if taken at `epoch` (non-zero) less than max_age_ns ago.
    std::optional<struct stat> get(std::uint64_t epoch, std::int64_t now_ns, std::int64_t max_age_ns) const {
        if (epoch == 0 || max_age_ns <= 0) return std::nullopt;
        std::lock_guard lk(mutex_);
        if (epoch_ != epoch || now_ns - at_ns_ >= max_age_ns) return std::nullopt;
        return st_;
    }

    // The copy last stored, whatever its age: what a stat answers while
    // the backing does not answer.
    std::optional<struct stat> last() const {
        std::lock_guard lk(mutex_);
        if (epoch_ == 0) return std::nullopt;
        return st_;
    }

private:
    mutable std::mutex mutex_;
    struct stat st_ {};
    std::uint64_t epoch_ = 0;  // 0: nothing stored
    std::int64_t at_ns_ = 0;
};

}  // namespace bcl
