#include "bcachefs_lite/cache/backing_link.h"

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

void BackingLink::come_back() {
    bool was_down = true;
    if (!down_.compare_exchange_strong(was_down, false, std::memory_order_acq_rel)) return;
    log_.info("backing directory answering again");
}

}  // namespace bcl
