#include "bcachefs_lite/util/replacement.h"

namespace bcl {

std::string_view replacement_name(Replacement r) {
    switch (r) {
    case Replacement::lru: return "lru";
    case Replacement::fifo: return "fifo";
    case Replacement::random: return "random";
    }
    return "unknown";
}

std::optional<Replacement> parse_replacement(std::string_view name) {
    for (auto r : {Replacement::lru, Replacement::fifo, Replacement::random})
        if (replacement_name(r) == name) return r;
    return std::nullopt;
}

}  // namespace bcl
