#include "rocks_error.h"

#include <fmt/format.h>

namespace bcl::index_detail {

namespace {

Errc errc_of(const rocksdb::Status& s) {
    if (s.IsCorruption()) return Errc::corrupt;
    if (s.IsNoSpace()) return Errc::no_space;
    if (s.IsNotFound()) return Errc::not_found;
    if (s.IsInvalidArgument()) return Errc::invalid;
    if (s.IsNotSupported()) return Errc::unsupported;
    if (s.IsBusy() || s.IsTimedOut()) return Errc::busy;
    if (s.IsTryAgain()) return Errc::again;
    if (s.IsShutdownInProgress()) return Errc::shutdown;
    return Errc::io;
}

}  // namespace

Error rocks_error(const rocksdb::Status& status, std::string_view what) {
    return make_error(errc_of(status), fmt::format("{}: {}", what, status.ToString()));
}

}  // namespace bcl::index_detail
