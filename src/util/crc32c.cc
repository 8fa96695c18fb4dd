#include "bcachefs_lite/util/crc32c.h"

#include <climits>
#include <isa-l/crc.h>

namespace bcl {

std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t len) {
    // ISA-L's crc32_iscsi neither pre- nor post-inverts and takes an int length.
    auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
    std::uint32_t state = ~crc;
    while (len > 0) {
        int chunk = len > static_cast<std::size_t>(INT_MAX / 2) ? INT_MAX / 2 : static_cast<int>(len);
        state = crc32_iscsi(p, chunk, state);
        p += chunk;
        len -= static_cast<std::size_t>(chunk);
    }
    return ~state;
}

}  // namespace bcl
