// The operations an IndexBatch stages, as plain values, in staging order.
// Index::commit() turns them into one rocksdb::WriteBatch.
//
// Thread safety: plain values.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "bcachefs_lite/index/index_batch.h"

namespace bcl {

namespace index_detail {

struct PutFileOp {
    FileIdentity id;
    FileRecord record;
};
struct DeleteFileOp {
    FileIdentity id;
};
struct InsertExtentOp {
    std::uint64_t file;
    std::uint64_t offset;
    ExtentValue value;
};
struct RemoveRangeOp {
    std::uint64_t file;
    std::uint64_t start;
    std::uint64_t end;
};
struct DropFileExtentsOp {
    std::uint64_t file;
};
struct ConditionalExtentOp {
    ExtentKey key;
    ExtentValue expected;
    std::optional<ExtentValue> replacement;  // none: delete
};
struct EraseRawExtentOp {
    std::string raw_key;
};
struct PutBucketGensOp {
    std::uint32_t device;
    std::vector<BucketGenRecord> records;
};
struct PutDirtyFileOp {
    std::uint64_t file_id;
    DirtyFileRecord record;
};
struct DeleteDirtyFileOp {
    std::uint64_t file_id;
};
struct PutPinnedFileOp {
    DirtyFileRecord record;
};
struct DeletePinnedFileOp {
    std::uint64_t dev;
    std::uint64_t ino;
};
struct PutNameOp {
    std::uint64_t parent;
    std::string name;
    NameRecord record;
};
struct DeleteNameOp {
    std::uint64_t parent;
    std::string name;
};
struct PutSavedOp {
    std::string name;
    std::string bytes;
};
struct PutCounterOp {
    std::string name;
    std::uint64_t value;
};

using BatchOp =
    std::variant<PutFileOp, DeleteFileOp, InsertExtentOp, RemoveRangeOp, DropFileExtentsOp, ConditionalExtentOp,
                 EraseRawExtentOp, PutBucketGensOp, PutCounterOp, PutSavedOp, PutDirtyFileOp, DeleteDirtyFileOp,
                 PutPinnedFileOp, DeletePinnedFileOp, PutNameOp, DeleteNameOp>;

}  // namespace index_detail

struct IndexBatch::Ops {
    std::vector<index_detail::BatchOp> ops;
};

}  // namespace bcl
