// CRC-32C (Castagnoli), as used by iSCSI, ext4 and bcache; computed by
// Intel ISA-L, which picks the SSE4.2/PCLMUL path at run time.
//
// crc32c(0, data) is the standard checksum ("123456789" -> 0xe3069283);
// crc32c(crc32c(0, a), b) equals crc32c(0, a ++ b).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace bcl {

std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t len);

inline std::uint32_t crc32c(std::uint32_t crc, std::span<const std::byte> data) {
    return crc32c(crc, data.data(), data.size());
}

}  // namespace bcl
