#include "bcachefs_lite/index/name_format.h"

#include "byte_order.h"
#include "value_frame.h"

namespace bcl {

using index_detail::get_le;
using index_detail::put_be;
using index_detail::put_le;

std::string encode_name_key(std::uint64_t parent, std::string_view name) {
    std::string out;
    out.reserve(8 + name.size());
    put_be(out, parent, 8);
    out.append(name);
    return out;
}

std::string encode_name_record(const NameRecord& r) {
    std::string out;
    out.reserve(kNameRecordSize);
    out.push_back(static_cast<char>(kNameRecordVersion));
    put_le(out, r.id, 8);
    put_le(out, r.type, 4);
    index_detail::seal_value(out);
    return out;
}

Result<NameRecord> decode_name_record(std::string_view bytes) {
    auto payload = index_detail::open_value(bytes, kNameRecordSize, kNameRecordVersion, "name");
    if (!payload) return payload.error();
    const char* p = payload.value();
    NameRecord r;
    r.id = get_le(p, 8);
    r.type = static_cast<std::uint32_t>(get_le(p + 8, 4));
    if (r.id == kRootNameId) return make_error(Errc::corrupt, "name record has id 0");
    return r;
}

}  // namespace bcl
