#include "bcachefs_lite/index/index_format.h"

#include <algorithm>
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

std::string encode_meta_saved(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() + 5);
    out.push_back(static_cast<char>(kMetaValueVersion));
    out.append(bytes);
    index_detail::seal_value(out);
    return out;
}

Result<std::string> decode_meta_saved(std::string_view bytes) {
    auto payload = index_detail::open_value(bytes, bytes.size(), kMetaValueVersion, "meta saved state");
    if (!payload) return payload.error();
    return std::string(payload.value(), bytes.size() - 5);
}

std::string encode_meta_mount(const MountRecord& record) {
    std::string out;
    out.push_back(static_cast<char>(kMetaValueVersion));
    put_le(out, record.time, 8);
    std::vector<const std::string*> kept;
    for (const auto& p : record.cache_paths)
        if (kept.size() < kMountRecordMaxPaths && p.size() <= kMountRecordMaxPathBytes) kept.push_back(&p);
    put_le(out, kept.size(), 4);
    for (const std::string* p : kept) {
        put_le(out, p->size(), 4);
        out += *p;
    }
    index_detail::seal_value(out);
    return out;
}

Result<MountRecord> decode_meta_mount(std::string_view bytes) {
    constexpr std::size_t kFixed = 1 + 8 + 4 + 4;
    // Sizes are checked here, after the frame's checksum and version.
    auto payload =
        index_detail::open_value(bytes, std::max(bytes.size(), kFixed), kMetaValueVersion, "meta last mount");
    if (!payload) return payload.error();
    const char* p = payload.value();
    const char* const end = bytes.data() + bytes.size() - 4;
    MountRecord record;
    record.time = get_le(p, 8);
    const std::uint64_t count = get_le(p + 8, 4);
    p += 12;
    if (count > kMountRecordMaxPaths) return make_error(Errc::corrupt, "meta last mount value has too many paths");
    for (std::uint64_t i = 0; i < count; ++i) {
        if (end - p < 4) return make_error(Errc::corrupt, "meta last mount value is truncated");
        const std::uint64_t len = get_le(p, 4);
        p += 4;
        if (len > kMountRecordMaxPathBytes || static_cast<std::uint64_t>(end - p) < len)
            return make_error(Errc::corrupt, "meta last mount value has a bad path length");
        record.cache_paths.emplace_back(p, len);
        p += len;
    }
    if (p != end) return make_error(Errc::corrupt, "meta last mount value has bytes after its paths");
    return record;
}

}  // namespace bcl
