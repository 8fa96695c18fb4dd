// Opens an index directory with RocksDB directly, as only another program
// (or damage) would, so that tests can plant what Index never writes.
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <functional>
#include <string>
#include <vector>

namespace bcl::test {

// Calls visit(db, family name, handle) for every column family of the
// database in `dir`, then closes it.
inline void for_each_raw_family(
    const std::string& dir,
    const std::function<void(rocksdb::DB&, const std::string&, rocksdb::ColumnFamilyHandle*)>& visit) {
    rocksdb::DBOptions o;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir, cfs, &handles, &db).ok());
    for (std::size_t i = 0; i < names.size(); ++i) visit(*db, names[i], handles[i]);
    for (auto* h : handles) EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    delete db;
}

}  // namespace bcl::test
