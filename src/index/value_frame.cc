#include "value_frame.h"

#include <fmt/format.h>

#include "bcachefs_lite/util/crc32c.h"
#include "byte_order.h"

namespace bcl::index_detail {

void seal_value(std::string& out) { put_le(out, crc32c(0, out.data(), out.size()), 4); }

Result<const char*> open_value(std::string_view bytes, std::size_t expected_size, std::uint8_t expected_version,
                               const char* what) {
    if (bytes.size() < 5)
        return make_error(Errc::corrupt, fmt::format("{} value of {} bytes is truncated", what, bytes.size()));
    const std::size_t body = bytes.size() - 4;
    const auto stored = static_cast<std::uint32_t>(get_le(bytes.data() + body, 4));
    if (crc32c(0, bytes.data(), body) != stored)
        return make_error(Errc::corrupt, fmt::format("{} value fails its checksum", what));
    const auto version = static_cast<std::uint8_t>(bytes[0]);
    if (version != expected_version)
        return make_error(Errc::unsupported, fmt::format("{} value has record version {}, this program knows {}", what,
                                                         version, expected_version));
    if (bytes.size() != expected_size)
        return make_error(Errc::corrupt,
                          fmt::format("{} value has {} bytes, expected {}", what, bytes.size(), expected_size));
    return bytes.data() + 1;
}

}  // namespace bcl::index_detail
