#include "bcachefs_lite/index/index_batch.h"

#include "batch_ops.h"

namespace bcl {

using namespace index_detail;

IndexBatch::IndexBatch() : ops_(std::make_unique<Ops>()) {}
IndexBatch::~IndexBatch() = default;
IndexBatch::IndexBatch(IndexBatch&&) noexcept = default;
IndexBatch& IndexBatch::operator=(IndexBatch&&) noexcept = default;

void IndexBatch::put_file(const FileIdentity& id, const FileRecord& record) {
    ops_->ops.emplace_back(PutFileOp{id, record});
}

void IndexBatch::delete_file(const FileIdentity& id) { ops_->ops.emplace_back(DeleteFileOp{id}); }

void IndexBatch::insert_extent(std::uint64_t file, std::uint64_t offset, const ExtentValue& value) {
    ops_->ops.emplace_back(InsertExtentOp{file, offset, value});
}

void IndexBatch::remove_range(std::uint64_t file, std::uint64_t start, std::uint64_t end) {
    ops_->ops.emplace_back(RemoveRangeOp{file, start, end});
}

void IndexBatch::drop_file_extents(std::uint64_t file) { ops_->ops.emplace_back(DropFileExtentsOp{file}); }

void IndexBatch::delete_extent_if_unchanged(const ExtentKey& key, const ExtentValue& expected) {
    ops_->ops.emplace_back(ConditionalExtentOp{key, expected, std::nullopt});
}

void IndexBatch::replace_extent_if_unchanged(const ExtentKey& key, const ExtentValue& expected,
                                             const ExtentValue& replacement) {
    ops_->ops.emplace_back(ConditionalExtentOp{key, expected, replacement});
}

void IndexBatch::erase_raw_extent(std::string_view raw_key) {
    ops_->ops.emplace_back(EraseRawExtentOp{std::string(raw_key)});
}

void IndexBatch::put_bucket_gens(std::uint32_t device, std::span<const BucketGenRecord> records) {
    ops_->ops.emplace_back(PutBucketGensOp{device, std::vector<BucketGenRecord>(records.begin(), records.end())});
}

void IndexBatch::put_dirty_file(std::uint64_t file_id, const DirtyFileRecord& record) {
    ops_->ops.emplace_back(PutDirtyFileOp{file_id, record});
}

void IndexBatch::delete_dirty_file(std::uint64_t file_id) { ops_->ops.emplace_back(DeleteDirtyFileOp{file_id}); }

void IndexBatch::put_pinned_file(const DirtyFileRecord& record) { ops_->ops.emplace_back(PutPinnedFileOp{record}); }

void IndexBatch::delete_pinned_file(std::uint64_t dev, std::uint64_t ino) {
    ops_->ops.emplace_back(DeletePinnedFileOp{dev, ino});
}

void IndexBatch::put_name(std::uint64_t parent, std::string_view name, const NameRecord& record) {
    ops_->ops.emplace_back(PutNameOp{parent, std::string(name), record});
}

void IndexBatch::delete_name(std::uint64_t parent, std::string_view name) {
    ops_->ops.emplace_back(DeleteNameOp{parent, std::string(name)});
}

void IndexBatch::put_counter(std::string_view name, std::uint64_t value) {
    ops_->ops.emplace_back(PutCounterOp{std::string(name), value});
}

void IndexBatch::put_saved(std::string_view name, std::string_view bytes) {
    ops_->ops.emplace_back(PutSavedOp{std::string(name), std::string(bytes)});
}

bool IndexBatch::empty() const { return ops_->ops.empty(); }
std::size_t IndexBatch::size() const { return ops_->ops.size(); }
void IndexBatch::clear() { ops_->ops.clear(); }

}  // namespace bcl
