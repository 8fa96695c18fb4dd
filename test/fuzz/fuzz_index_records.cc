// Fuzzes the decoders of every key and value the index stores against
// their encoders: extents, file records, dirty-file records, bucket gens
// and the meta values.
//
// Input: a selector byte (record_kinds.h: which kind, and how the bytes are
// framed), then the bytes. Framing matters because every value ends with
// a CRC-32C that random bytes almost never pass. Each kind checks:
//   - decode of the bytes: an accepted value encodes back to the same
//     bytes; a refused one gets the error code index_format.h documents;
//   - a value built from the same bytes: encode then decode gives it back
//     exactly when the format says it is valid;
//   - keys: their byte order is the order of their numbers (RocksDB's
//     order is file order, bucket order).
#include <fuzzer/FuzzedDataProvider.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "bcachefs_lite/index/bucket_format.h"
#include "bcachefs_lite/index/dirty_file_format.h"
#include "bcachefs_lite/index/extent_format.h"
#include "bcachefs_lite/index/file_format.h"
#include "bcachefs_lite/index/index_format.h"
#include "bcachefs_lite/util/crc32c.h"
#include "fuzz_check.h"
#include "record_kinds.h"

namespace bcl {
namespace {

using fuzz::check_error;
using fuzz::RecordFraming;
using fuzz::RecordKind;

constexpr std::size_t kMetaU64Size = 13;
constexpr std::size_t kMetaUuidSize = 21;
// Version, dev, ino, btime, handle type, handle length: the handle follows.
constexpr std::size_t kDirtyHandleOffset = 1 + 8 + 8 + 8 + 4 + 4;

std::uint32_t stored_crc(std::string_view bytes) {
    std::uint32_t c = 0;
    for (int i = 3; i >= 0; --i) c = (c << 8) | static_cast<unsigned char>(bytes[bytes.size() - 4 + i]);
    return c;
}

bool crc_matches(std::string_view bytes) {
    return bytes.size() >= 5 && crc32c(0, bytes.data(), bytes.size() - 4) == stored_crc(bytes);
}

std::string seal(std::string body) {
    const std::uint32_t c = crc32c(0, body.data(), body.size());
    for (int i = 0; i < 4; ++i) body.push_back(static_cast<char>(c >> (8 * i)));
    return body;
}

// What every value decoder promises (index_format.h): checksum first, then
// the version, then the rest.
template <class T>
void check_value_frame(const Result<T>& r, std::string_view bytes, std::uint8_t version, std::size_t size) {
    if (r) {
        BCL_FUZZ_CHECK(bytes.size() == size && crc_matches(bytes));
        BCL_FUZZ_CHECK(static_cast<std::uint8_t>(bytes[0]) == version);
        return;
    }
    check_error(r.error(), {Errc::corrupt, Errc::unsupported});
    if (!crc_matches(bytes)) {
        BCL_FUZZ_CHECK(r.error().code == Errc::corrupt);
        return;
    }
    const bool version_known = static_cast<std::uint8_t>(bytes[0]) == version;
    BCL_FUZZ_CHECK(r.error().code == (version_known ? Errc::corrupt : Errc::unsupported));
}

template <class T>
void check_key(const Result<T>& r, std::string_view bytes, std::size_t size) {
    if (r)
        BCL_FUZZ_CHECK(bytes.size() == size);
    else
        check_error(r.error(), {Errc::corrupt});
}

// Byte order of two encoded keys is the order of what they encode.
void check_key_order(const std::string& a, const std::string& b, std::strong_ordering want) {
    BCL_FUZZ_CHECK((a.compare(b) <=> 0) == want);
}

void fuzz_extent_key(std::string_view bytes, FuzzedDataProvider& in) {
    auto k = decode_extent_key(bytes);
    check_key(k, bytes, kExtentKeySize);
    if (k) BCL_FUZZ_CHECK(encode_extent_key(k.value()) == bytes);

    const ExtentKey a{in.ConsumeIntegral<std::uint64_t>(), in.ConsumeIntegral<std::uint64_t>()};
    const ExtentKey b{in.ConsumeBool() ? a.file : in.ConsumeIntegral<std::uint64_t>(),
                      in.ConsumeIntegral<std::uint64_t>()};
    auto back = decode_extent_key(encode_extent_key(a));
    BCL_FUZZ_CHECK(back && back.value() == a);
    check_key_order(encode_extent_key(a), encode_extent_key(b), a <=> b);
}

// extent_format.h's rules, written out again in wider arithmetic: a
// nonzero, sector-aligned length, an aligned crc window that holds the
// extent, and a checksummed range from byte 0 up whose end offset fits in
// 64 bits, for each copy; a second copy on another device.
bool extent_fields_agree(const ExtentValue& v) {
    using u128 = unsigned __int128;
    if (v.replica && v.replica->device == v.device) return false;
    for (unsigned i = 0; i < v.nptrs(); ++i) {
        const u128 first_byte = u128(v.ptr(i).sector) * kSectorSize;
        if (v.crc_offset > first_byte || first_byte - v.crc_offset + v.crc_length > UINT64_MAX) return false;
    }
    return v.length != 0 && v.length % kSectorSize == 0 && v.crc_offset % kSectorSize == 0 &&
           u128(v.crc_offset) + v.length <= v.crc_length;
}

ExtentValue extent_from(FuzzedDataProvider& in) {
    ExtentValue v;
    if (in.ConsumeBool()) {
        v.length = kSectorSize * in.ConsumeIntegralInRange<std::uint64_t>(1, 1u << 16);
        v.crc_offset = kSectorSize * in.ConsumeIntegralInRange<std::uint64_t>(0, 1u << 16);
        v.crc_length = v.crc_offset + v.length + kSectorSize * in.ConsumeIntegralInRange<std::uint64_t>(0, 1u << 16);
        v.sector = in.ConsumeIntegralInRange<std::uint64_t>(v.crc_offset / kSectorSize, UINT64_MAX / kSectorSize);
    } else {
        v.length = in.ConsumeIntegral<std::uint64_t>();
        v.crc_offset = in.ConsumeIntegral<std::uint64_t>();
        v.crc_length = in.ConsumeIntegral<std::uint64_t>();
        v.sector = in.ConsumeIntegral<std::uint64_t>();
    }
    v.device = in.ConsumeIntegral<std::uint8_t>();
    v.bucket = in.ConsumeIntegral<std::uint64_t>();
    v.gen = in.ConsumeIntegral<std::uint8_t>();
    v.flags = in.ConsumeIntegral<std::uint8_t>();
    v.data_crc = in.ConsumeIntegral<std::uint32_t>();
    if (in.ConsumeBool()) {
        ExtentPtr r;
        r.device = in.ConsumeIntegral<std::uint8_t>();
        r.bucket = in.ConsumeIntegral<std::uint64_t>();
        r.gen = in.ConsumeIntegral<std::uint8_t>();
        r.sector = in.ConsumeBool() ? v.sector : in.ConsumeIntegral<std::uint64_t>();
        v.replica = r;
    }
    return v;
}

// A trimmed piece keeps the checksummed range and is itself a valid extent
// (the index writes trimmed pieces without checking them again).
void check_slice(const ExtentValue& v, FuzzedDataProvider& in) {
    const std::uint64_t sectors = v.length / kSectorSize;
    const std::uint64_t skip = in.ConsumeIntegralInRange<std::uint64_t>(0, sectors - 1);
    const std::uint64_t length = in.ConsumeIntegralInRange<std::uint64_t>(1, sectors - skip);
    const ExtentValue s = slice_extent_value(v, skip * kSectorSize, length * kSectorSize);
    BCL_FUZZ_CHECK(s.length == length * kSectorSize && s.sector == v.sector + skip);
    BCL_FUZZ_CHECK(s.crc_device_offset() == v.crc_device_offset());
    BCL_FUZZ_CHECK(s.crc_length == v.crc_length && s.data_crc == v.data_crc && s.flags == v.flags);
    BCL_FUZZ_CHECK(s.device == v.device && s.bucket == v.bucket && s.gen == v.gen);
    BCL_FUZZ_CHECK(s.nptrs() == v.nptrs());
    if (v.replica)
        BCL_FUZZ_CHECK(s.replica->sector == v.replica->sector + skip &&
                       s.crc_device_offset(1) == v.crc_device_offset(1));
    auto back = decode_extent_value(encode_extent_value(s));
    if (!back) {
        std::fprintf(stderr, "extent length %ju sector %ju crc %ju+%ju, its part %ju+%ju: %s\n",
                     std::uintmax_t{v.length}, std::uintmax_t{v.sector}, std::uintmax_t{v.crc_offset},
                     std::uintmax_t{v.crc_length}, std::uintmax_t{skip * kSectorSize},
                     std::uintmax_t{length * kSectorSize}, back.error().message.c_str());
    }
    BCL_FUZZ_CHECK(back && back.value() == s);
}

void fuzz_extent_value(std::string_view bytes, FuzzedDataProvider& in) {
    auto v = decode_extent_value(bytes);
    // Version 2 (two copies) has its own size; version 1 is read as ever.
    if (!bytes.empty() && static_cast<std::uint8_t>(bytes[0]) == kExtentValueVersion2)
        check_value_frame(v, bytes, kExtentValueVersion2, kExtentValueSize2);
    else
        check_value_frame(v, bytes, kExtentValueVersion, kExtentValueSize);
    if (v) {
        BCL_FUZZ_CHECK(extent_fields_agree(v.value()));
        BCL_FUZZ_CHECK(encode_extent_value(v.value()) == bytes);
    }

    const ExtentValue built = extent_from(in);
    auto back = decode_extent_value(encode_extent_value(built));
    BCL_FUZZ_CHECK(back.has_value() == extent_fields_agree(built));
    if (!back) return;
    BCL_FUZZ_CHECK(back.value() == built);
    check_slice(built, in);
}

void fuzz_file_key(std::string_view bytes, FuzzedDataProvider& in) {
    auto k = decode_file_key(bytes);
    check_key(k, bytes, kFileKeySize);
    if (k) {
        BCL_FUZZ_CHECK(k.value().btime_ns == 0);
        BCL_FUZZ_CHECK(encode_file_key(k.value().dev, k.value().ino) == bytes);
    }

    const FileIdentity a{in.ConsumeIntegral<std::uint64_t>(), in.ConsumeIntegral<std::uint64_t>(), 0};
    const FileIdentity b{in.ConsumeIntegral<std::uint64_t>(), in.ConsumeIntegral<std::uint64_t>(), 0};
    auto back = decode_file_key(encode_file_key(a.dev, a.ino));
    BCL_FUZZ_CHECK(back && back.value() == a);
    check_key_order(encode_file_key(a.dev, a.ino), encode_file_key(b.dev, b.ino), a <=> b);
}

void fuzz_file_record(std::string_view bytes, FuzzedDataProvider& in) {
    auto r = decode_file_record(bytes);
    check_value_frame(r, bytes, kFileRecordVersion, kFileRecordSize);
    if (r) {
        BCL_FUZZ_CHECK(r.value().file_id != 0);
        BCL_FUZZ_CHECK(encode_file_record(r.value()) == bytes);
    }

    FileRecord built;
    built.file_id = in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint64_t>();
    built.size = in.ConsumeIntegral<std::uint64_t>();
    built.mtime_ns = in.ConsumeIntegral<std::int64_t>();
    built.ctime_ns = in.ConsumeIntegral<std::int64_t>();
    built.btime_ns = in.ConsumeIntegral<std::int64_t>();
    built.flags = in.ConsumeIntegral<std::uint32_t>();
    built.generation = in.ConsumeIntegral<std::uint32_t>();
    auto back = decode_file_record(encode_file_record(built));
    if (built.file_id == 0)
        BCL_FUZZ_CHECK(!back && back.error().code == Errc::corrupt);
    else
        BCL_FUZZ_CHECK(back && back.value() == built);
}

void fuzz_dirty_file_key(std::string_view bytes, FuzzedDataProvider& in) {
    auto k = decode_dirty_file_key(bytes);
    check_key(k, bytes, kDirtyFileKeySize);
    if (k) BCL_FUZZ_CHECK(encode_dirty_file_key(k.value()) == bytes);

    const auto a = in.ConsumeIntegral<std::uint64_t>();
    const auto b = in.ConsumeIntegral<std::uint64_t>();
    auto back = decode_dirty_file_key(encode_dirty_file_key(a));
    BCL_FUZZ_CHECK(back && back.value() == a);
    check_key_order(encode_dirty_file_key(a), encode_dirty_file_key(b), a <=> b);
}

void fuzz_dirty_file_record(std::string_view bytes, FuzzedDataProvider& in) {
    auto r = decode_dirty_file_record(bytes);
    check_value_frame(r, bytes, kDirtyFileRecordVersion, kDirtyFileRecordSize);
    if (r) {
        const std::size_t len = r.value().handle.size();
        BCL_FUZZ_CHECK(len >= 1 && len <= kMaxFileHandleBytes);
        auto again = encode_dirty_file_record(r.value());
        BCL_FUZZ_CHECK(again);
        // The bytes past the handle are zero when written; the decoder does
        // not look at them, so only what comes before may be compared.
        BCL_FUZZ_CHECK(again.value().compare(0, kDirtyHandleOffset + len, bytes, 0, kDirtyHandleOffset + len) == 0);
        auto back = decode_dirty_file_record(again.value());
        BCL_FUZZ_CHECK(back && back.value() == r.value());
    }

    DirtyFileRecord built;
    built.dev = in.ConsumeIntegral<std::uint64_t>();
    built.ino = in.ConsumeIntegral<std::uint64_t>();
    built.btime_ns = in.ConsumeIntegral<std::int64_t>();
    built.handle_type = in.ConsumeIntegral<std::int32_t>();
    built.handle = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<std::size_t>(0, kMaxFileHandleBytes + 2));
    auto encoded = encode_dirty_file_record(built);
    if (built.handle.size() > kMaxFileHandleBytes) {
        BCL_FUZZ_CHECK(!encoded && encoded.error().code == Errc::invalid);
        return;
    }
    BCL_FUZZ_CHECK(encoded && encoded.value().size() == kDirtyFileRecordSize);
    auto back = decode_dirty_file_record(encoded.value());
    // No file system hands out an empty handle; the decoder refuses one.
    if (built.handle.empty())
        BCL_FUZZ_CHECK(!back && back.error().code == Errc::corrupt);
    else
        BCL_FUZZ_CHECK(back && back.value() == built);
}

void fuzz_bucket_key(std::string_view bytes, FuzzedDataProvider& in) {
    auto k = decode_bucket_key(bytes);
    check_key(k, bytes, kBucketKeySize);
    if (k) BCL_FUZZ_CHECK(encode_bucket_key(k.value().device, k.value().bucket) == bytes);

    const auto device = in.ConsumeIntegral<std::uint32_t>();
    const auto bucket = in.ConsumeIntegral<std::uint64_t>();
    const auto other_device = in.ConsumeBool() ? device : in.ConsumeIntegral<std::uint32_t>();
    const auto other_bucket = in.ConsumeIntegral<std::uint64_t>();
    auto back = decode_bucket_key(encode_bucket_key(device, bucket));
    BCL_FUZZ_CHECK(back && back.value().device == device && back.value().bucket == bucket);
    const auto want = device != other_device ? device <=> other_device : bucket <=> other_bucket;
    check_key_order(encode_bucket_key(device, bucket), encode_bucket_key(other_device, other_bucket), want);
}

void fuzz_bucket_value(std::string_view bytes, FuzzedDataProvider& in) {
    auto r = decode_bucket_value(bytes);
    check_value_frame(r, bytes, kBucketValueVersion, kBucketValueSize);
    if (r) {
        BCL_FUZZ_CHECK(r.value().bucket == 0);
        BCL_FUZZ_CHECK(encode_bucket_value(r.value()) == bytes);
    }

    const BucketGenRecord built{in.ConsumeIntegral<std::uint64_t>(), in.ConsumeIntegral<std::uint8_t>(),
                                in.ConsumeIntegral<std::uint16_t>()};
    auto back = decode_bucket_value(encode_bucket_value(built));
    BCL_FUZZ_CHECK(back && back.value().gen == built.gen && back.value().prio == built.prio);
    BCL_FUZZ_CHECK(back.value().bucket == 0);  // the bucket is in the key
}

void fuzz_meta_u64(std::string_view bytes, FuzzedDataProvider& in) {
    auto v = decode_meta_u64(bytes);
    check_value_frame(v, bytes, kMetaValueVersion, kMetaU64Size);
    if (v) BCL_FUZZ_CHECK(encode_meta_u64(v.value()) == bytes);

    const auto built = in.ConsumeIntegral<std::uint64_t>();
    auto back = decode_meta_u64(encode_meta_u64(built));
    BCL_FUZZ_CHECK(back && back.value() == built);
}

void fuzz_meta_uuid(std::string_view bytes, FuzzedDataProvider& in) {
    auto v = decode_meta_uuid(bytes);
    check_value_frame(v, bytes, kMetaValueVersion, kMetaUuidSize);
    if (v) BCL_FUZZ_CHECK(encode_meta_uuid(v.value()) == bytes);

    Uuid built{};
    for (auto& b : built) b = in.ConsumeIntegral<std::uint8_t>();
    auto back = decode_meta_uuid(encode_meta_uuid(built));
    BCL_FUZZ_CHECK(back && back.value() == built);
}

// The value's size and version byte, for the `framed` framing.
struct ValueShape {
    std::size_t size;
    std::uint8_t version;
};

ValueShape shape_of(RecordKind kind) {
    switch (kind) {
    case RecordKind::extent_value: return {kExtentValueSize, kExtentValueVersion};
    case RecordKind::file_record: return {kFileRecordSize, kFileRecordVersion};
    case RecordKind::dirty_file_record: return {kDirtyFileRecordSize, kDirtyFileRecordVersion};
    case RecordKind::bucket_value: return {kBucketValueSize, kBucketValueVersion};
    case RecordKind::meta_u64: return {kMetaU64Size, kMetaValueVersion};
    case RecordKind::meta_uuid: return {kMetaUuidSize, kMetaValueVersion};
    default: return {0, 0};  // a key: no frame
    }
}

std::string framed(std::string_view bytes, RecordKind kind, RecordFraming framing) {
    const ValueShape shape = shape_of(kind);
    if (framing == RecordFraming::raw || shape.size == 0) return std::string(bytes);
    if (framing == RecordFraming::sealed) return seal(std::string(bytes));
    std::string body(bytes.substr(0, shape.size - 4));
    body.resize(shape.size - 4, '\0');
    body[0] = static_cast<char>(shape.version);
    return seal(std::move(body));
}

}  // namespace
}  // namespace bcl

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace bcl;
    if (size == 0) return 0;
    const auto kind = static_cast<RecordKind>(data[0] % fuzz::kRecordKindCount);
    const auto framing = static_cast<RecordFraming>(data[0] / fuzz::kRecordKindCount % fuzz::kRecordFramingCount);
    const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::string bytes = framed(rest, kind, framing);
    FuzzedDataProvider in(data + 1, size - 1);
    switch (kind) {
    case RecordKind::extent_key: fuzz_extent_key(bytes, in); break;
    case RecordKind::extent_value: fuzz_extent_value(bytes, in); break;
    case RecordKind::file_key: fuzz_file_key(bytes, in); break;
    case RecordKind::file_record: fuzz_file_record(bytes, in); break;
    case RecordKind::dirty_file_key: fuzz_dirty_file_key(bytes, in); break;
    case RecordKind::dirty_file_record: fuzz_dirty_file_record(bytes, in); break;
    case RecordKind::bucket_key: fuzz_bucket_key(bytes, in); break;
    case RecordKind::bucket_value: fuzz_bucket_value(bytes, in); break;
    case RecordKind::meta_u64: fuzz_meta_u64(bytes, in); break;
    case RecordKind::meta_uuid: fuzz_meta_uuid(bytes, in); break;
    }
    return 0;
}
