#include "bcachefs_lite/index/extent_format.h"

#include <fmt/format.h>

#include "byte_order.h"
#include "value_frame.h"

namespace bcl {

using index_detail::get_be;
using index_detail::get_le;
using index_detail::put_be;
using index_detail::put_le;

ExtentValue make_extent_value(std::uint64_t length, std::uint8_t device, std::uint64_t bucket, std::uint8_t gen,
                              std::uint64_t sector, std::uint32_t data_crc, bool dirty) {
    ExtentValue v;
    v.length = length;
    v.device = device;
    v.bucket = bucket;
    v.gen = gen;
    v.sector = sector;
    v.flags = static_cast<std::uint8_t>(kExtentCrcValid | (dirty ? kExtentDirty : 0));
    v.data_crc = data_crc;
    v.crc_offset = 0;
    v.crc_length = length;
    return v;
}

std::string encode_extent_key(const ExtentKey& key) {
    std::string out;
    out.reserve(kExtentKeySize);
    put_be(out, key.file, 8);
    put_be(out, key.end, 8);
    return out;
}

Result<ExtentKey> decode_extent_key(std::string_view bytes) {
    if (bytes.size() != kExtentKeySize)
        return make_error(Errc::corrupt,
                          fmt::format("extent key has {} bytes, expected {}", bytes.size(), kExtentKeySize));
    return ExtentKey{get_be(bytes.data(), 8), get_be(bytes.data() + 8, 8)};
}

std::string encode_extent_value(const ExtentValue& v) {
    std::string out;
    out.reserve(v.replica ? kExtentValueSize2 : kExtentValueSize);
    out.push_back(static_cast<char>(v.replica ? kExtentValueVersion2 : kExtentValueVersion));
    out.push_back(static_cast<char>(v.flags));
    out.push_back(static_cast<char>(v.device));
    out.push_back(static_cast<char>(v.gen));
    put_le(out, v.length, 8);
    put_le(out, v.bucket, 8);
    put_le(out, v.sector, 8);
    put_le(out, v.crc_offset, 8);
    put_le(out, v.crc_length, 8);
    put_le(out, v.data_crc, 4);
    if (v.replica) {
        out.push_back(static_cast<char>(v.replica->device));
        out.push_back(static_cast<char>(v.replica->gen));
        put_le(out, v.replica->bucket, 8);
        put_le(out, v.replica->sector, 8);
    }
    index_detail::seal_value(out);
    return out;
}

Result<ExtentValue> decode_extent_value(std::string_view bytes) {
    // The version picks the size; open_value() checks the checksum first.
    const bool two = !bytes.empty() && static_cast<std::uint8_t>(bytes[0]) == kExtentValueVersion2;
    auto payload = index_detail::open_value(bytes, two ? kExtentValueSize2 : kExtentValueSize,
                                            two ? kExtentValueVersion2 : kExtentValueVersion, "extent");
    if (!payload) return payload.error();
    const char* p = payload.value();
    ExtentValue v;
    v.flags = static_cast<std::uint8_t>(p[0]);
    v.device = static_cast<std::uint8_t>(p[1]);
    v.gen = static_cast<std::uint8_t>(p[2]);
    v.length = get_le(p + 3, 8);
    v.bucket = get_le(p + 11, 8);
    v.sector = get_le(p + 19, 8);
    v.crc_offset = get_le(p + 27, 8);
    v.crc_length = get_le(p + 35, 8);
    v.data_crc = static_cast<std::uint32_t>(get_le(p + 43, 4));
    if (two) {
        ExtentPtr r;
        r.device = static_cast<std::uint8_t>(p[47]);
        r.gen = static_cast<std::uint8_t>(p[48]);
        r.bucket = get_le(p + 49, 8);
        r.sector = get_le(p + 57, 8);
        if (r.device == v.device) return make_error(Errc::corrupt, "extent value has two copies on one device");
        v.replica = r;
    }
    // The checksummed range holds the extent, so its end fitting in a u64
    // means every slice of the extent still decodes.
    if (v.length == 0 || v.length % kSectorSize != 0 || v.crc_offset % kSectorSize != 0 ||
        v.crc_offset > v.crc_length || v.length > v.crc_length - v.crc_offset)
        return make_error(Errc::corrupt, "extent value has contradictory fields");
    for (unsigned i = 0; i < v.nptrs(); ++i) {
        const std::uint64_t sector = v.ptr(i).sector;
        if (sector > UINT64_MAX / kSectorSize || v.crc_offset > sector * kSectorSize ||
            v.crc_length > UINT64_MAX - v.crc_device_offset(i))
            return make_error(Errc::corrupt, "extent value has contradictory fields");
    }
    return v;
}

ExtentValue slice_extent_value(const ExtentValue& v, std::uint64_t skip, std::uint64_t length) {
    ExtentValue out = v;
    out.sector = v.sector + skip / kSectorSize;
    if (out.replica) out.replica->sector += skip / kSectorSize;
    out.crc_offset = v.crc_offset + skip;
    out.length = length;
    return out;
}

}  // namespace bcl
