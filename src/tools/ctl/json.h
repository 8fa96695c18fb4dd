// JSON text for the --json output of bcachefs-lite-ctl's verbs.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace bcl::ctl {

// `s` as a quoted JSON string: '"' and '\' escaped, control characters as
// \n, \t, \r, \b, \f or \u00XX. Valid UTF-8 is kept as it is; a byte that
// is not part of a valid UTF-8 sequence (a path is any bytes) becomes
// U+FFFD, so that the output is always valid JSON.
std::string json_string(std::string_view s);

// A number of JSON for a finite double, with `decimals` digits after the
// point ("95.6"); "null" when it is not finite.
std::string json_number(double value, int decimals);

}  // namespace bcl::ctl
