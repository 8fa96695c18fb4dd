#include "bcachefs_lite/index/index_format.h"

#include <cstring>

#include "byte_order.h"
#include "value_frame.h"

namespace bcl {

using index_detail::get_le;
using index_detail::put_le;

std::string encode_meta_u64(std::uint64_t value) {
    std::string out;
    out.push_back(static_cast<char>(kMetaValueVersion));
    put_le(out, value, 8);
    index_detail::seal_value(out);
    return out;
}

Result<std::uint64_t> decode_meta_u64(std::string_view bytes) {
    auto payload = index_detail::open_value(bytes, 13, kMetaValueVersion, "meta counter");
    if (!payload) return payload.error();
    return get_le(payload.value(), 8);
}

std::string encode_meta_uuid(const Uuid& uuid) {
    std::string out;
    out.push_back(static_cast<char>(kMetaValueVersion));
    out.append(reinterpret_cast<const char*>(uuid.data()), uuid.size());
    index_detail::seal_value(out);
    return out;
}

Result<Uuid> decode_meta_uuid(std::string_view bytes) {
    auto payload = index_detail::open_value(bytes, 21, kMetaValueVersion, "meta uuid");
    if (!payload) return payload.error();
    Uuid uuid{};
    std::memcpy(uuid.data(), payload.value(), uuid.size());
    return uuid;
}

}  // namespace bcl
