// fsck of a cache that is not mounted: the checks and repairs behind
// `bcachefs-lite-ctl fsck`, on the devices of a cache set (one or several)
// and its index, with no CacheSet (nothing is allocated, no GC runs, the
// devices are only read).
//
// What is checked, streaming the extents in key order (never loading the
// index whole):
//  - every entry of the extents family decodes;
//  - every copy of every extent (the first pointer and the replica) points
//    into an existing data bucket of the device its dev index names, block
//    aligned, with its checksummed range inside that bucket;
//  - its gen equals the bucket's gen stored in the index for that device
//    (a bucket with no stored record has gen 0): a copy whose gen differs
//    is stale, which is normal for clean data (the bucket was reused) and
//    data loss for dirty data (dirty buckets are never reused);
//  - the data of every copy with a valid checksum reads back from its
//    device and matches its CRC-32C;
//  - an extent is live while one of its copies passes; a bad copy next to
//    a good one is a finding of its own (bad_copies, the device named);
//  - per bucket of each device, the sectors of its live extents fit in the
//    bucket (the only bucket accounting that is persisted is gen and prio;
//    sectors_used and marks are recomputed by GC at every mount, so they
//    are not compared here);
//  - the stored bucket records name existing buckets;
//  - files with dirty extents have a dirty-file record (without one,
//    writeback cannot find the backing file), and every dirty-file record
//    belongs to a file that still has dirty extents;
//  - every file record decodes, no two name one file id, and every
//    extent's file id has a file record (without one, reads of the file
//    can never find the extent: it is a new file to the cache).
//
// What repair does: it only ever deletes index entries or takes copies out
// of them, never writes the devices. Clean data can always be dropped (the backing file holds it), so
// a clean extent that is stale, points nowhere valid, fails its checksum
// or cannot be read is deleted (delete-if-unchanged). Dirty data is never
// dropped: a dirty extent that fails any check is reported and left, and
// the result says errors were left uncorrected. A bad copy of an extent
// whose other copy is good is taken out of the extent (replace-if-
// unchanged): always for clean data, for dirty data only when the other copy
// verifies against its checksum (next to a copy without a valid checksum,
// the bad copy of dirty data stays). A stale copy of a clean extent next to a good one is no
// error (GC takes it out at mount); repair takes it out too. An entry that
// does not decode is deleted by its raw key when it provably holds no dirty
// data: its value decodes and says clean, or its key decodes and names a
// file with no dirty-file record (a file with dirty extents always has one,
// dirty_file_format.h); otherwise it is left. A dirty-file record whose file
// has no dirty extent left is deleted. A clean extent no file record reaches
// is deleted (it only takes space); a dirty one is left, since writeback can
// still find its file. A file record that does not decode is deleted when no
// dirty-file record names its backing file (the file is then a new one to
// the cache, and its old extents unreachable clean ones); a file record
// whose key does not decode, or that shares its file id, is left.
//
// The index of a set points into all of its devices: run_fsck needs every
// member, in dev_idx order (open_fsck_devices), and refuses anything else
// (Errc::unsupported).
//
// Thread safety: run_fsck uses the index and devices from one thread; the
// cache must not be mounted (check_index_unused()).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

struct FsckOptions {
    // Delete what is wrong and clean (see the header). The index must be
    // open read-write. Default: false (only report).
    bool repair = false;
    // Count the extents first so that progress has a total; costs one more
    // walk over the index keys, no device I/O. Default: false.
    bool count_first = false;
    // Called every kProgressEvery extents and once at the end with the
    // extents seen so far and the total (0 when not counted first).
    std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

struct FsckReport {
    std::uint64_t extents = 0;             // entries of the extents family seen
    std::uint64_t live = 0;                // extents that passed every check
    std::uint64_t dirty = 0;               // dirty extents among all extents
    std::uint64_t unchecked = 0;           // live extents with no valid checksum to verify
    std::uint64_t stale = 0;               // gen is not their bucket's (clean: normal)
    std::uint64_t bad_pointer = 0;         // no such device or bucket, or outside it
    std::uint64_t bad_checksum = 0;        // data does not match its CRC-32C
    std::uint64_t read_errors = 0;         // data could not be read from the device
    std::uint64_t bad_copies = 0;          // a copy fails (any check) while the other copy is good
    std::uint64_t corrupt_entries = 0;     // entries whose key or value does not decode
    std::uint64_t orphaned = 0;            // dirty-file links that do not match (both ways)
    std::uint64_t overfull_buckets = 0;    // live sectors exceed the bucket's size
    std::uint64_t bad_bucket_records = 0;  // stored bucket records for no bucket, or unreadable
    std::uint64_t files = 0;               // file records seen
    std::uint64_t bad_file_records = 0;    // file records that do not decode, or share a file id
    std::uint64_t unreachable = 0;         // extents whose file id has no file record
    std::uint64_t repaired = 0;            // problems fixed by deleting index entries
    std::uint64_t left = 0;                // problems found and not fixed
    std::uint64_t stale_deleted = 0;       // clean stale extents deleted (not errors)

    // One line per problem (at most kMaxProblems are kept).
    std::vector<std::string> problems;
    std::uint64_t problem_count = 0;
    static constexpr std::size_t kMaxProblems = 100;

    bool errors() const { return repaired + left != 0; }
};

inline constexpr std::uint64_t kProgressEvery = 4096;

// Checks the cache set of `devices` (every member, by dev_idx) against
// `index`, and with options.repair deletes what is wrong and clean. Errors
// only when the devices are not one whole set in order (Errc::unsupported)
// or the index cannot be read or written; problems found are in the report.
Result<FsckReport> run_fsck(std::span<CacheDevice* const> devices, Index& index, const FsckOptions& options = {});
// The same for a cache of one device.
Result<FsckReport> run_fsck(CacheDevice& device, Index& index, const FsckOptions& options = {});

// Opens the cache devices or files at `paths`, read-only, as the mount
// does: in any order, put in dev_idx order. Refusals as the mount's
// (one line each, nothing written): Errc::foreign devices of different
// sets, Errc::invalid the same device twice, Errc::not_found a member
// missing (the set and its dev_idx named) or a path that does not exist,
// Errc::corrupt members whose geometry differs.
Result<std::vector<std::unique_ptr<CacheDevice>>> open_fsck_devices(const std::vector<std::string>& paths);

// Errc::busy when a process holds the index in `dir` open for writing (a
// mounted cache holds it for as long as it is mounted). A read-only open
// of the index takes no lock, so a check that opens it read-only asks this
// first; a repair opens it read-write, which takes the lock itself.
Status check_index_unused(const std::string& dir);

}  // namespace bcl
