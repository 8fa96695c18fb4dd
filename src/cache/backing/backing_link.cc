#include "bcachefs_lite/cache/backing_link.h"

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace bcl {

bool BackingLink::unreachable(int err) {
    switch (err) {
    case ENOTCONN:
    case ECONNABORTED:
    case ECONNRESET:
    case ECONNREFUSED:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENETDOWN:
    case ENETUNREACH:
    case ENETRESET:
    case ETIMEDOUT:
    case ESHUTDOWN:
    case EIO:
    case ENOLINK:
    case ECOMM:
    case EREMOTEIO: return true;
    default: return false;
    }
}

void BackingLink::failed(const Error& e) {
    if (!unreachable(e.sys_errno)) return;
    bool was_down = false;
    if (!down_.compare_exchange_strong(was_down, true, std::memory_order_acq_rel)) return;
    log_.warn("backing directory not answering ({}): fully cached files stay readable, the rest fails until it is back",
              std::system_category().message(e.sys_errno));
}

BackingLink::Call& BackingLink::Call::operator=(Call&& other) noexcept {
    if (this != &other) {
        end();
        link_ = other.link_;
        id_ = other.id_;
        other.link_ = nullptr;
    }
    return *this;
}

void BackingLink::Call::end() {
    if (!link_) return;
    std::lock_guard lk(link_->calls_mutex_);
    link_->calls_.erase(id_);
    link_ = nullptr;
}

BackingLink::Call BackingLink::begin_call(std::int64_t now_ns) {
    std::lock_guard lk(calls_mutex_);
    const std::uint64_t id = next_call_++;
    calls_.emplace(id, now_ns);
    return Call(this, id);
}

bool BackingLink::busy() const {
    std::lock_guard lk(calls_mutex_);
    return !calls_.empty();
}

void BackingLink::set_timeout(double seconds) { timeout_s_.store(seconds, std::memory_order_release); }

void BackingLink::check(std::int64_t now_ns) {
    const double timeout = timeout_s_.load(std::memory_order_acquire);
    if (timeout <= 0) return;
    std::int64_t oldest;
    {
        std::lock_guard lk(calls_mutex_);
        if (calls_.empty()) return;
        // Ids follow the order of the calls, not always of their start
        // times (a caller may pass its own): the earliest start wins.
        oldest = calls_.begin()->second;
        for (const auto& [id, start] : calls_) oldest = std::min(oldest, start);
    }
    const double waited_s = static_cast<double>(now_ns - oldest) / 1e9;
    if (waited_s <= timeout) return;
    bool was_down = false;
    if (!down_.compare_exchange_strong(was_down, true, std::memory_order_acq_rel)) return;
    log_.warn(
        "backing directory not answering: a call has waited {:.0f} s; cached files stay readable, the rest "
        "fails until it is back",
        waited_s);
}

void BackingLink::come_back() {
    bool was_down = true;
    if (!down_.compare_exchange_strong(was_down, false, std::memory_order_acq_rel)) return;
    log_.info("backing directory answering again");
}

}  // namespace bcl
