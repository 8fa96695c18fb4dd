#include "bcachefs_lite/index/bucket_format.h"

#include <fmt/format.h>

#include "byte_order.h"
#include "value_frame.h"

namespace bcl {

using index_detail::get_be;
using index_detail::get_le;
using index_detail::put_be;
using index_detail::put_le;

std::string encode_bucket_key(std::uint32_t device, std::uint64_t bucket) {
    std::string out;
    out.reserve(kBucketKeySize);
    put_be(out, device, 4);
    put_be(out, bucket, 8);
    return out;
}

Result<BucketKey> decode_bucket_key(std::string_view bytes) {
    if (bytes.size() != kBucketKeySize)
        return make_error(Errc::corrupt,
                          fmt::format("bucket key has {} bytes, expected {}", bytes.size(), kBucketKeySize));
    return BucketKey{static_cast<std::uint32_t>(get_be(bytes.data(), 4)), get_be(bytes.data() + 4, 8)};
}

std::string encode_bucket_value(const BucketGenRecord& record) {
    std::string out;
    out.reserve(kBucketValueSize);
    out.push_back(static_cast<char>(kBucketValueVersion));
    out.push_back(static_cast<char>(record.gen));
    put_le(out, record.prio, 2);
    index_detail::seal_value(out);
    return out;
}

Result<BucketGenRecord> decode_bucket_value(std::string_view bytes) {
    auto payload = index_detail::open_value(bytes, kBucketValueSize, kBucketValueVersion, "bucket");
    if (!payload) return payload.error();
    BucketGenRecord r;
    r.gen = static_cast<std::uint8_t>(payload.value()[0]);
    r.prio = static_cast<std::uint16_t>(get_le(payload.value() + 1, 2));
    return r;
}

}  // namespace bcl
