// The index directories under an index root (kDefaultIndexRoot by
// default: one directory per cache or cache set UUID) and whether the cache
// each belongs to still exists: what `bcachefs-lite-ctl index list` shows
// and `index prune` removes.
//
// How a state is decided, in this order:
//   not-an-index  not a directory, or a directory without a RocksDB
//                 database in it (no CURRENT file)
//   mounted       a process holds the index open for writing (its RocksDB
//                 LOCK, probed without taking it: check_index_unused());
//                 the index is then not opened at all
//   unreadable    the index cannot be opened read-only
//   present       a device or file with a superblock of the index's UUID
//                 (as its cache's UUID or its set's UUID) was found: at a
//                 path the last mount recorded (MountRecord), else on any
//                 block device of the system
//   unknown       not found, but presence cannot be ruled out: no mount
//                 recorded where the cache was (an index from an older
//                 program), a recorded path could not be read (permissions,
//                 I/O error, a damaged or newer superblock), or a recorded
//                 path under /dev was gone and some block device could not
//                 be read
//   gone          not found, and the recorded paths say where it would be
//
// Opening an index read-only writes nothing in its directory and takes no
// lock, so a mount may start meanwhile.
//
// Thread safety: none; one survey per process.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/index/index_format.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/uuid.h"

namespace bcl::ctl {

enum class IndexState { present, gone, unknown, mounted, unreadable, not_an_index };

// "present", "gone", "unknown", "mounted", "unreadable", "not-an-index".
std::string_view index_state_name(IndexState state);

struct IndexEntry {
    std::string name;  // the entry's name under the root
    std::string dir;   // root/name
    // The UUID the index records; else the one its name spells, if any.
    std::optional<Uuid> uuid;
    IndexState state = IndexState::not_an_index;
    // Bytes allocated on disk to everything in the directory.
    std::uint64_t bytes = 0;
    std::optional<MountRecord> last_mount;
    // Present: the device or file found holding the cache.
    std::string found_at;
    // Why the state is what it is, when that needs saying (one line).
    std::string note;
};

// The block devices of the system and the cache UUIDs their superblocks
// hold; read once, on first use, then kept.
class BlockDeviceScan {
public:
    // A path of a block device whose superblock has `uuid` as its cache or
    // set UUID; empty if none.
    std::string find(const Uuid& uuid);
    // Whether some block device could not be read.
    bool incomplete();

private:
    void scan();
    bool scanned_ = false;
    bool incomplete_ = false;
    std::map<Uuid, std::string> found_;
};

// Every entry of `root`, by name; entries whose name begins with '.' are
// left out. An empty list when root does not exist.
Result<std::vector<IndexEntry>> survey_indexes(const std::string& root, BlockDeviceScan& scan);

// The state of one entry; with `probe_lock` false the lock is not asked
// (the caller holds it).
IndexEntry survey_index(const std::string& root, const std::string& name, BlockDeviceScan& scan,
                        bool probe_lock = true);

}  // namespace bcl::ctl
