#include "bcachefs_lite/index/file_format.h"

#include <fmt/format.h>

#include "byte_order.h"
#include "value_frame.h"

namespace bcl {

using index_detail::get_be;
using index_detail::get_le;
using index_detail::put_be;
using index_detail::put_le;

std::string encode_file_key(std::uint64_t dev, std::uint64_t ino) {
    std::string out;
    out.reserve(kFileKeySize);
    put_be(out, dev, 8);
    put_be(out, ino, 8);
    return out;
}

Result<FileIdentity> decode_file_key(std::string_view bytes) {
    if (bytes.size() != kFileKeySize)
        return make_error(Errc::corrupt, fmt::format("file key has {} bytes, expected {}", bytes.size(), kFileKeySize));
    return FileIdentity{get_be(bytes.data(), 8), get_be(bytes.data() + 8, 8), 0};
}

std::string encode_file_record(const FileRecord& r) {
    std::string out;
    out.reserve(kFileRecordSize);
    out.push_back(static_cast<char>(kFileRecordVersion));
    put_le(out, r.file_id, 8);
    put_le(out, r.size, 8);
    put_le(out, static_cast<std::uint64_t>(r.mtime_ns), 8);
    put_le(out, static_cast<std::uint64_t>(r.ctime_ns), 8);
    put_le(out, static_cast<std::uint64_t>(r.btime_ns), 8);
    put_le(out, r.flags, 4);
    put_le(out, r.generation, 4);
    index_detail::seal_value(out);
    return out;
}

Result<FileRecord> decode_file_record(std::string_view bytes) {
    auto payload = index_detail::open_value(bytes, kFileRecordSize, kFileRecordVersion, "file");
    if (!payload) return payload.error();
    const char* p = payload.value();
    FileRecord r;
    r.file_id = get_le(p, 8);
    r.size = get_le(p + 8, 8);
    r.mtime_ns = static_cast<std::int64_t>(get_le(p + 16, 8));
    r.ctime_ns = static_cast<std::int64_t>(get_le(p + 24, 8));
    r.btime_ns = static_cast<std::int64_t>(get_le(p + 32, 8));
    r.flags = static_cast<std::uint32_t>(get_le(p + 40, 4));
    r.generation = static_cast<std::uint32_t>(get_le(p + 44, 4));
    if (r.file_id == 0) return make_error(Errc::corrupt, "file record has file id 0");
    return r;
}

}  // namespace bcl
