#include "bcachefs_lite/util/size.h"

#include <charconv>
#include <fmt/format.h>

namespace bcl {

Result<std::uint64_t> parse_size(std::string_view text, std::string_view what) {
    auto bad = [&] {
        return make_error(
            Errc::invalid,
            fmt::format("invalid {} '{}': expected a number with an optional K, M, G or T suffix", what, text));
    };
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end == text.data()) return bad();
    std::string_view suffix(end, text.data() + text.size() - end);
    unsigned shift = 0;
    if (!suffix.empty()) {
        switch (suffix.front()) {
        case 'k':
        case 'K': shift = 10; break;
        case 'm':
        case 'M': shift = 20; break;
        case 'g':
        case 'G': shift = 30; break;
        case 't':
        case 'T': shift = 40; break;
        case 'b':
        case 'B': shift = 0; break;
        default: return bad();
        }
        if (suffix.front() != 'b' && suffix.front() != 'B') suffix.remove_prefix(1);
        if (!(suffix.empty() || suffix == "B" || suffix == "iB" || suffix == "b")) return bad();
    }
    if (shift && value > (UINT64_MAX >> shift))
        return make_error(Errc::invalid, fmt::format("{} '{}' is too large", what, text));
    return value << shift;
}

std::string format_size(std::uint64_t bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (bytes != 0 && bytes % 1024 == 0 && u < 5) {
        bytes /= 1024;
        ++u;
    }
    return fmt::format("{}{}", bytes, units[u]);
}

std::string format_size_approx(std::uint64_t bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        ++u;
    }
    if (u == 0) return fmt::format("{}B", bytes);
    return fmt::format("{:.1f}{}", v, units[u]);
}

}  // namespace bcl
