// Where RocksDB statuses become bcl::Error: nothing above this layer sees
// a rocksdb::Status.
//
// Thread safety: pure function.
#pragma once

#include <rocksdb/status.h>

#include <string_view>

#include "bcachefs_lite/util/error.h"

namespace bcl::index_detail {

// An Error whose message is "what: <RocksDB's message>", with the Errc
// that fits the status (corruption -> corrupt, no space -> no_space, ...).
Error rocks_error(const rocksdb::Status& status, std::string_view what);

}  // namespace bcl::index_detail
