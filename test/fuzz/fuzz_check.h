// What the fuzz targets share: a check that turns a broken promise into a
// crash libFuzzer keeps the input of, and the checks every error value must
// pass. A failed check prints what was expected, then traps, because a
// mismatch that only printed would be lost among millions of runs.
#pragma once

#include <cstdio>
#include <initializer_list>
#include <string>

#include "bcachefs_lite/util/error.h"

#define BCL_FUZZ_CHECK(cond)                                                              \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            __builtin_trap();                                                             \
        }                                                                                 \
    } while (0)

namespace bcl::fuzz {

// An error is one of the codes the function documents, with the one-line
// message a user sees. Messages quote what the user typed, so a newline
// there may show up in them (`quoted_newline`).
inline void check_error(const Error& e, std::initializer_list<Errc> documented, bool quoted_newline = false) {
    bool known = false;
    for (Errc c : documented) known = known || e.code == c;
    if (!known) std::fprintf(stderr, "undocumented error code %s: %s\n", errc_name(e.code), e.message.c_str());
    BCL_FUZZ_CHECK(known);
    BCL_FUZZ_CHECK(!e.message.empty());
    BCL_FUZZ_CHECK(quoted_newline || e.message.find('\n') == std::string::npos);
}

}  // namespace bcl::fuzz
