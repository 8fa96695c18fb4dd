#include "pin_values.h"

#include <fmt/format.h>

#include "option_values.h"

namespace bcl {

Result<unsigned> parse_pin_limit_percent(std::string_view text) {
    auto v = parse_whole_value(kPinLimitPercent, text);
    if (!v) return v.error();
    if (v.value() > 100)
        return make_error(Errc::invalid, fmt::format("{}={}: at most 100", kPinLimitPercent, v.value()));
    return v.value();
}

}  // namespace bcl
