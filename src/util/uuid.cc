#include "bcachefs_lite/util/uuid.h"

#include <algorithm>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/string_generator.hpp>
#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <fmt/format.h>

namespace bcl {

Uuid random_uuid() {
    boost::uuids::random_generator gen;
    boost::uuids::uuid u = gen();
    Uuid out;
    std::copy(u.begin(), u.end(), out.begin());
    return out;
}

std::string uuid_to_string(const Uuid& uuid) {
    boost::uuids::uuid u;
    std::copy(uuid.begin(), uuid.end(), u.begin());
    return boost::uuids::to_string(u);
}

Result<Uuid> parse_uuid(std::string_view text) {
    if (text.size() != 36) return make_error(Errc::invalid, fmt::format("invalid UUID '{}'", text));
    try {
        boost::uuids::uuid u = boost::uuids::string_generator()(std::string(text));
        Uuid out;
        std::copy(u.begin(), u.end(), out.begin());
        return out;
    } catch (const std::exception&) {
        return make_error(Errc::invalid, fmt::format("invalid UUID '{}'", text));
    }
}

bool uuid_is_nil(const Uuid& uuid) {
    return std::all_of(uuid.begin(), uuid.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace bcl
