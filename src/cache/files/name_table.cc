#include "bcachefs_lite/cache/name_table.h"

#include <functional>
#include <string>

namespace bcl {

std::size_t NameTable::stripe_of(std::uint64_t parent, std::string_view name) {
    return (std::hash<std::string_view>{}(name) ^ std::hash<std::uint64_t>{}(parent)) % kStripes;
}

Result<std::uint64_t> NameTable::id_of(std::uint64_t parent, std::string_view name, std::uint32_t type) {
    std::lock_guard lk(stripes_[stripe_of(parent, name)]);
    auto stored = index_.get_name(parent, name);
    if (!stored) return stored.error();
    if (stored.value() && stored.value()->type == type) return stored.value()->id;
    // New, or another kind of entry by now (a directory where a file was).
    auto id = index_.new_file_id();
    if (!id) return id.error();
    IndexBatch batch;
    batch.put_name(parent, name, NameRecord{id.value(), type});
    auto committed = index_.commit(batch, false);
    if (!committed) return committed.error();
    return id.value();
}

Result<std::optional<std::uint64_t>> NameTable::find(std::uint64_t parent, std::string_view name, std::uint32_t type) {
    std::lock_guard lk(stripes_[stripe_of(parent, name)]);
    auto stored = index_.get_name(parent, name);
    if (!stored) return stored.error();
    if (!stored.value() || stored.value()->type != type) return std::optional<std::uint64_t>();
    return std::optional<std::uint64_t>(stored.value()->id);
}

Status NameTable::rename(std::uint64_t from_parent, std::string_view from, std::uint64_t to_parent, std::string_view to,
                         bool exchange) {
    // Both stripes, in index order (one when they are the same).
    std::size_t a = stripe_of(from_parent, from);
    std::size_t b = stripe_of(to_parent, to);
    if (a > b) std::swap(a, b);
    std::unique_lock first(stripes_[a]);
    std::unique_lock<std::mutex> second;
    if (b != a) second = std::unique_lock(stripes_[b]);

    auto source = index_.get_name(from_parent, from);
    if (!source) return source.error();
    auto target = index_.get_name(to_parent, to);
    if (!target) return target.error();
    IndexBatch batch;
    batch.delete_name(from_parent, from);
    batch.delete_name(to_parent, to);
    if (source.value()) batch.put_name(to_parent, to, *source.value());
    if (exchange && target.value()) batch.put_name(from_parent, from, *target.value());
    auto committed = index_.commit(batch, false);
    if (!committed) return committed.error();
    return ok();
}

Status NameTable::remove(std::uint64_t parent, std::string_view name) {
    std::lock_guard lk(stripes_[stripe_of(parent, name)]);
    IndexBatch batch;
    batch.delete_name(parent, name);
    auto committed = index_.commit(batch, false);
    if (!committed) return committed.error();
    return ok();
}

}  // namespace bcl
