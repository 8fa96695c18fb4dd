// What the extent map tests share: opening an index with a given map bound,
// extents to insert, and the extents of a file as RocksDB holds them (read
// by a scan, which the map never answers).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_index.h"

namespace bcl::test {

// The index in `dir`, created if missing, with a map of `map_extents`
// extents (0: none); nullptr and a test failure when it does not open.
inline std::unique_ptr<Index> open_with_map(const std::string& dir, std::size_t map_extents,
                                            std::function<Status()> before_durable = {}) {
    IndexOptions o;
    o.create_if_missing = true;
    o.cache_uuid = kTestUuid;
    o.extent_map_extents = map_extents;
    o.before_durable = std::move(before_durable);
    auto idx = Index::open(dir, o);
    if (!idx) {
        ADD_FAILURE() << idx.error().message;
        return nullptr;
    }
    return std::move(idx.value());
}

// An extent of `length` bytes whose data starts at device sector `sector`;
// `tag` tells it apart from others (its checksum).
inline ExtentValue map_test_extent(std::uint64_t length, std::uint64_t sector, std::uint32_t tag = 0) {
    return make_extent_value(length, 0, sector / 1024, 1, sector, tag, false);
}

// Every extent of `file` as stored, through a scan.
inline std::vector<Extent> stored_extents(const Index& index, std::uint64_t file) {
    std::vector<Extent> out;
    auto cursor = index.scan_extents(ExtentKey{file, 0});
    for (; cursor->valid(); cursor->next()) {
        auto key = cursor->key();
        auto value = cursor->value();
        if (!key || !value || key.value().file != file) break;
        out.push_back(Extent{key.value(), value.value()});
    }
    return out;
}

}  // namespace bcl::test
