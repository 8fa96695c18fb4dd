// Index: extent operations (the mutations go through commit()).
#include <fmt/format.h>

#include "bcachefs_lite/index/index.h"
#include "index_db.h"

namespace bcl {

using namespace index_detail;

Result<std::vector<ExtentOverwrite>> Index::insert_extent(std::uint64_t file, std::uint64_t offset,
                                                          const ExtentValue& value, bool sync) {
    IndexBatch batch;
    batch.insert_extent(file, offset, value);
    auto r = commit(batch, sync);
    if (!r) return r.error();
    return std::move(r.value().overwrites);
}

Result<std::vector<ExtentOverwrite>> Index::remove_range(std::uint64_t file, std::uint64_t start, std::uint64_t end,
                                                         bool sync) {
    IndexBatch batch;
    batch.remove_range(file, start, end);
    auto r = commit(batch, sync);
    if (!r) return r.error();
    return std::move(r.value().overwrites);
}

Status Index::drop_file_extents(std::uint64_t file, bool sync) {
    IndexBatch batch;
    batch.drop_file_extents(file);
    auto r = commit(batch, sync);
    if (!r) return r.error();
    return ok();
}

Result<std::vector<Extent>> Index::lookup(std::uint64_t file, std::uint64_t start, std::uint64_t end) const {
    if (start >= end) return std::vector<Extent>();
    return db_->read_overlapping(file, start, end);
}

Status Index::for_each_extent(const std::function<bool(const Extent&)>& visit) const {
    auto cursor = scan_extents();
    for (; cursor->valid(); cursor->next()) {
        auto key = cursor->key();
        if (!key) return key.error();
        auto value = cursor->value();
        if (!value)
            return make_error(value.error().code,
                              fmt::format("index {}: extent (file {}, end {}): {}", db_->dir, key.value().file,
                                          key.value().end, value.error().message));
        if (!visit(Extent{key.value(), value.value()})) return ok();
    }
    return cursor->status();
}

}  // namespace bcl
