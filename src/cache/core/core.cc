#include "core/core.h"

namespace bcl {

CacheCore::CacheCore(Logger& log, CacheTestHooks hooks, const Tunables& tunables)
    : log(log),
      hooks(std::move(hooks)),
      mode(tunables.mode),
      pin_limit_percent(tunables.pin_limit_percent),
      window(tunables.actimeo) {
    backing_link.set_timeout(tunables.backing_timeout);
}

Status CacheCore::flush_devices() {
    // Out of service nothing new reaches the cache device, and a failing
    // device must not keep the index from becoming durable.
    if (!in_service()) return ok();
    Status result = ok();
    for (auto& d : devices) {
        if (auto st = d->flush(); !st && result) result = st.error();
    }
    return result;
}

std::string CacheCore::cache_name() const {
    std::string name;
    for (const auto& d : devices)
        if (d) name += (name.empty() ? "" : ":") + d->path();
    return name;
}

}  // namespace bcl
