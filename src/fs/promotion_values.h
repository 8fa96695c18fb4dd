// The promotion tunables (cache/promotion_tunables.h) as people type them,
// shared by the mount options (promote=nhit,promote_hits=3) and the
// settable extended attributes of the mount root (setfattr -n
// user.bcachefs_lite.promote -v nhit), as option_values.h does for the
// writeback tunables: a parser checks the syntax only and stores the value;
// validate() checks the ranges once every value is known.
//
// Thread safety: pure functions; the table is immutable.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "bcachefs_lite/cache/promotion_tunables.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

// Errc::invalid, one line naming the tunable, on text that is not a value
// of its kind; `tunables` is unchanged then.
Status parse_promote(PromotionTunables& tunables, std::string_view text);                  // always or nhit
Status parse_promote_hits(PromotionTunables& tunables, std::string_view text);             // whole number
Status parse_promote_trigger_percent(PromotionTunables& tunables, std::string_view text);  // whole percent

struct PromotionTunableText {
    std::string_view name;
    Status (*parse)(PromotionTunables& tunables, std::string_view text);
    // What the parser takes back: "always"/"nhit", or decimal text.
    std::string (*format)(const PromotionTunables& tunables);
};

// Every promotion tunable, in the order the documentation lists them.
std::span<const PromotionTunableText> promotion_tunable_texts();
// The tunable named `name` (without any prefix), or null.
const PromotionTunableText* find_promotion_tunable(std::string_view name);

}  // namespace bcl
