// Opening a fresh index in a temporary directory, for the index tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "bcachefs_lite/index/index.h"

namespace bcl::test {

inline constexpr Uuid kTestUuid{0x5e, 0xed, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

// The index in `dir`, created if missing; nullptr (and a test failure)
// when it cannot be opened.
inline std::unique_ptr<Index> open_test_index(const std::string& dir) {
    IndexOptions o;
    o.create_if_missing = true;
    o.cache_uuid = kTestUuid;
    auto idx = Index::open(dir, o);
    if (!idx) {
        ADD_FAILURE() << idx.error().message;
        return nullptr;
    }
    return std::move(idx.value());
}

}  // namespace bcl::test
