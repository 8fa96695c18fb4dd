#include "bcachefs_lite/index/dirty_file_format.h"

#include <fmt/format.h>

#include "byte_order.h"
#include "value_frame.h"

namespace bcl {

using index_detail::get_be;
using index_detail::get_le;
using index_detail::put_be;
using index_detail::put_le;

std::string encode_dirty_file_key(std::uint64_t file_id) {
    std::string out;
    out.reserve(kDirtyFileKeySize);
    put_be(out, file_id, 8);
    return out;
}

Result<std::uint64_t> decode_dirty_file_key(std::string_view bytes) {
    if (bytes.size() != kDirtyFileKeySize)
        return make_error(Errc::corrupt,
                          fmt::format("dirty-file key has {} bytes, expected {}", bytes.size(), kDirtyFileKeySize));
    return get_be(bytes.data(), 8);
}

Result<std::string> encode_dirty_file_record(const DirtyFileRecord& r) {
    if (r.handle.size() > kMaxFileHandleBytes)
        return make_error(Errc::invalid,
                          fmt::format("file handle of {} bytes; at most {} fit", r.handle.size(), kMaxFileHandleBytes));
    std::string out;
    out.reserve(kDirtyFileRecordSize);
    out.push_back(static_cast<char>(kDirtyFileRecordVersion));
    put_le(out, r.dev, 8);
    put_le(out, r.ino, 8);
    put_le(out, static_cast<std::uint64_t>(r.btime_ns), 8);
    put_le(out, static_cast<std::uint32_t>(r.handle_type), 4);
    put_le(out, r.handle.size(), 4);
    out += r.handle;
    out.append(kMaxFileHandleBytes - r.handle.size(), '\0');
    index_detail::seal_value(out);
    return out;
}

Result<DirtyFileRecord> decode_dirty_file_record(std::string_view bytes) {
    auto payload = index_detail::open_value(bytes, kDirtyFileRecordSize, kDirtyFileRecordVersion, "dirty-file");
    if (!payload) return payload.error();
    const char* p = payload.value();
    DirtyFileRecord r;
    r.dev = get_le(p, 8);
    r.ino = get_le(p + 8, 8);
    r.btime_ns = static_cast<std::int64_t>(get_le(p + 16, 8));
    r.handle_type = static_cast<std::int32_t>(static_cast<std::uint32_t>(get_le(p + 24, 4)));
    const std::uint64_t len = get_le(p + 28, 4);
    if (len == 0 || len > kMaxFileHandleBytes)
        return make_error(Errc::corrupt, fmt::format("dirty-file record with a file handle of {} bytes", len));
    r.handle.assign(p + 32, len);
    return r;
}

}  // namespace bcl
