// NameTable: the stable ids of the names below the backing root, for a
// mount that recognises files by path (identity=path). Backings such as
// sshfs and rclone give a file a new inode number whenever the kernel
// forgets it; the fs layer then names files to the engine by these ids,
// which change only when the name does (index/name_format.h).
//
// A name keeps its id while it names an entry of the same type (a regular
// file stays a regular file); whether that file's data changed is the file
// record's business, as in every mode (FileRecord::matches). Ids come from
// Index::new_file_id(), so none is ever handed out twice.
//
// Only changes made through the mount move or drop records: a name
// renamed or removed behind the cache's back keeps its record (the new
// name gets an id of its own, so its cached data is not found, never
// wrong).
//
// Thread safety: every member may be called from any thread. The
// read-then-write of a name runs under one of kStripes mutexes chosen by
// the name, so two lookups of a new name agree on its id.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

class NameTable {
public:
    // `index` must outlive the table.
    explicit NameTable(Index& index) : index_(index) {}

    // The id of `name` in the directory of id `parent`, an entry of `type`
    // (S_IFMT bits): the recorded one when it was recorded with this type,
    // else a new one, recorded now (unsynced: a crash may forget it, which
    // costs the file's cached data, never correctness).
    Result<std::uint64_t> id_of(std::uint64_t parent, std::string_view name, std::uint32_t type);
    // The recorded id when there is one of `type`; records nothing.
    Result<std::optional<std::uint64_t>> find(std::uint64_t parent, std::string_view name, std::uint32_t type);
    // A rename through the mount: the record of `from` moves to `to` (a
    // record `to` had is dropped), or with `exchange` the two swap.
    Status rename(std::uint64_t from_parent, std::string_view from, std::uint64_t to_parent, std::string_view to,
                  bool exchange);
    // An unlink or rmdir through the mount: drops the record.
    Status remove(std::uint64_t parent, std::string_view name);

private:
    static constexpr std::size_t kStripes = 64;
    static std::size_t stripe_of(std::uint64_t parent, std::string_view name);

    Index& index_;
    std::array<std::mutex, kStripes> stripes_;  // each guards the read-then-write of its names
};

}  // namespace bcl
