// Index: the cache's metadata in a RocksDB database in one directory —
// file records, extents, bucket gens and prios, and a few persistent
// values (see index_format.h for the format and the persistence rules).
//
// Extent overlap resolution lives here: inserting an extent cuts away the
// parts of other extents it covers, as bcache's extent insert does.
//
// A lookup of a file looked up recently is answered from memory: the index
// keeps the whole extent lists of such files, bounded, and every commit
// updates them as it writes (IndexOptions::extent_map_extents).
//
// Thread safety: every member function may be called from many threads at
// once. Reads see a consistent snapshot. Mutations of one file's extents
// read, then write; the index serialises them per file id internally (a
// striped mutex, so unrelated files may also wait on each other briefly).
// What the index does NOT serialise is the caller's own read-then-insert:
// a miss insert must not install data older than a write that raced with
// it (DESIGN.md, invariant 4), so the cache engine samples a per-file write
// sequence number before reading the backing file and checks it under its
// own per-file lock around insert_extent(). The conditional operations of
// IndexBatch cover GC and writeback, which act on one extent they read.
//
// Nothing of RocksDB appears here; RocksDB statuses become bcl::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/index/bucket_format.h"
#include "bcachefs_lite/index/dirty_file_format.h"
#include "bcachefs_lite/index/extent_cursor.h"
#include "bcachefs_lite/index/extent_format.h"
#include "bcachefs_lite/index/extent_scan.h"
#include "bcachefs_lite/index/file_format.h"
#include "bcachefs_lite/index/index_batch.h"
#include "bcachefs_lite/index/index_format.h"
#include "bcachefs_lite/index/index_types.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/uuid.h"

namespace bcl {

namespace index_detail {
struct IndexDb;
}

struct IndexOptions {
    // Create the directory (and its parents) and a new index in it when
    // there is none; the directory is made 0700, whatever the umask, since
    // the index names files other users may not see. A directory that
    // holds files but no index is never used. Default: false.
    bool create_if_missing = false;
    // The cache this index belongs to. Required to create an index; when
    // set, an existing index recorded for another UUID is refused
    // (Errc::foreign). Default: none (accept the recorded one).
    std::optional<Uuid> cache_uuid;
    // Block cache shared by all column families; also holds index and
    // filter blocks, so it bounds their memory. Default: 8 MiB.
    std::size_t block_cache_bytes = 8u << 20;
    // Memtable size of each column family (two may exist per family).
    // Default: 8 MiB.
    std::size_t write_buffer_bytes = 8u << 20;
    // Table files RocksDB keeps open. Default: 256.
    int max_open_files = 256;
    // Extents kept in memory, as whole files' lists, so that a lookup of a
    // recently looked-up file reads no RocksDB; least recently used files
    // go first. A file is charged its extents plus one, and one with more
    // than an eighth of the bound is not kept (its lookups read RocksDB).
    // Measured: about 160 bytes an extent and as much a file, so the
    // default takes at most about 40 MiB (a quarter of what 1Mi extents
    // would, which the 256 MiB RSS target at 10M extents cannot spare).
    // 0 turns it off. Default: 256Ki (262144).
    std::size_t extent_map_extents = 256u << 10;
    // Open an existing index for reading only: nothing in the directory
    // changes, and every mutation fails. Default: false.
    bool read_only = false;
    // Called before anything the index holds unsynced can become durable:
    // before every synced write, sync(), and every memtable flush (rule 8
    // of index_format.h). An error fails the synced write; a flush goes on
    // regardless. Called from any thread, with no index lock held.
    // Default: empty.
    std::function<Status()> before_durable;
};

// The in-memory extent map (IndexOptions::extent_map_extents).
struct ExtentMapStats {
    std::uint64_t max_extents = 0;  // the bound; 0: the map is off
    std::uint64_t files = 0;        // files in memory, too large ones included
    std::uint64_t extents = 0;
    std::uint64_t too_large = 0;  // files remembered as too large to keep
    std::uint64_t hits = 0;       // lookups answered from memory
    std::uint64_t misses = 0;     // lookups that read RocksDB
    std::uint64_t evictions = 0;  // files pushed out by the bound
};

class Index {
public:
    // Opens (or, if allowed, creates) the index in `dir`. Errors:
    //   Errc::not_found    no index there and create_if_missing is false
    //   Errc::foreign      the index belongs to another cache UUID
    //   Errc::corrupt      RocksDB cannot open it, or it lacks what every
    //                      index has (message names the directory and fsck)
    //   Errc::unsupported  a format version newer than this program's
    //   Errc::busy         another process has it open
    //   Errc::invalid      creating without options.cache_uuid
    static Result<std::unique_ptr<Index>> open(const std::string& dir, const IndexOptions& options);
    // Whether `dir` holds an index (or at least files where one would be,
    // which open() then judges): false for a missing or empty directory.
    static Result<bool> exists(const std::string& dir);
    // Closes the database; unsynced writes survive a process exit (they are
    // in the WAL) but not a power loss. Does not touch the clean flag.
    ~Index();
    Index(const Index&) = delete;
    Index& operator=(const Index&) = delete;

    const Uuid& cache_uuid() const;
    const std::string& dir() const;
    // RocksDB's sequence number of the last write: it moves with every
    // write by anyone (this program, fsck, another tool), so an equal
    // number means nothing was written in between, even across a close.
    std::uint64_t sequence() const;

    // ---- meta ----
    // The clean-shutdown flag; false in a new index.
    Result<bool> clean_shutdown() const;
    // Writes the flag, synced.
    Status set_clean_shutdown(bool clean);
    // What a mount does first after opening (rule 7 of index_format.h):
    // clears the clean-shutdown flag and records `mount`, in one synced
    // write.
    Status begin_mount(const MountRecord& mount);
    // The record of the last begin_mount(); nullopt if there was none (an
    // index from before it was recorded). Errc::corrupt if it does not
    // decode.
    Result<std::optional<MountRecord>> last_mount() const;
    // A named counter; 0 if it was never put.
    Result<std::uint64_t> get_counter(std::string_view name) const;
    Status put_counter(std::string_view name, std::uint64_t value, bool sync = false);
    // What a layer above saved as `name` (IndexBatch::put_saved); nullopt
    // when nothing was. Errc::corrupt if it does not decode.
    Result<std::optional<std::string>> get_saved(std::string_view name) const;

    // ---- files ----
    // The record stored for (id.dev, id.ino), whatever its btime: the
    // caller decides with FileRecord::matches() whether it is still the
    // same file unchanged (file_format.h).
    Result<std::optional<FileRecord>> get_file(const FileIdentity& id) const;
    // Stores `record` for (id.dev, id.ino), with btime_ns = id.btime_ns.
    Status put_file(const FileIdentity& id, const FileRecord& record, bool sync = false);
    Status delete_file(const FileIdentity& id, bool sync = false);
    // A file id never handed out before by this index, even across crashes
    // (ids are reserved in blocks of kFileIdBlock, synced first). Never 0.
    Result<std::uint64_t> new_file_id();
    static constexpr std::uint64_t kFileIdBlock = 1024;

    // ---- extents ----
    // Indexes [offset, offset + value.length) of `file`. Extents already in
    // that range are dropped when covered, trimmed when they straddle an
    // edge (a front trim advances their sector and crc window), split in
    // two when the new extent lands inside one; all in one atomic write,
    // synced when `sync`. Returns what was taken away. offset and
    // value.length must be non-zero multiples of kSectorSize (offset may be
    // 0), file must be neither 0 nor UINT64_MAX: else Errc::invalid.
    Result<std::vector<ExtentOverwrite>> insert_extent(std::uint64_t file, std::uint64_t offset,
                                                       const ExtentValue& value, bool sync = false);
    // Unindexes [start, end) of `file` (writes, truncate), trimming and
    // splitting as insert_extent does. Returns what was taken away.
    Result<std::vector<ExtentOverwrite>> remove_range(std::uint64_t file, std::uint64_t start, std::uint64_t end,
                                                      bool sync = false);
    // Unindexes all extents of `file` with one range deletion (no scan;
    // bucket accounting learns of it at the next GC).
    Status drop_file_extents(std::uint64_t file, bool sync = false);
    // The extents of `file` overlapping [start, end), in offset order.
    Result<std::vector<Extent>> lookup(std::uint64_t file, std::uint64_t start, std::uint64_t end) const;
    // What the in-memory extent map holds and how lookups fared.
    ExtentMapStats extent_map_stats() const;
    // A cursor over all extents from key `from` on (extent_cursor.h).
    std::unique_ptr<ExtentCursor> scan_extents(const ExtentKey& from = {}) const;
    // The same over [from, options.end), read as `options` says
    // (extent_scan.h).
    std::unique_ptr<ExtentCursor> scan_extents(const ExtentKey& from, const ExtentScanOptions& options) const;
    // The index as it is now, for cursors that must all see one moment.
    std::unique_ptr<IndexSnapshot> take_snapshot() const;
    // Up to n - 1 keys, strictly increasing, that cut the extents into
    // ranges [{}, k0), [k0, k1) ... [k_last, end) holding about the same
    // bytes on disk, estimated from the table files' key ranges and sizes
    // (extents still in memtables are not weighed; an index with no table
    // file yet gets none). The ranges cover every key whatever the split:
    // only how even they are depends on it.
    std::vector<ExtentKey> split_extents(unsigned n) const;
    // Calls visit for every extent in key order until it returns false.
    // Stops with Errc::corrupt at an entry that does not decode.
    Status for_each_extent(const std::function<bool(const Extent&)>& visit) const;

    // ---- buckets ----
    // Writes the gens and prios of `records` of device `device` as one
    // synced write: after it returns they survive a crash (bcache's
    // prio_write).
    Status put_bucket_gens(std::uint32_t device, std::span<const BucketGenRecord> records);
    // Every bucket record of `device`, in bucket order.
    Result<std::vector<BucketGenRecord>> load_bucket_gens(std::uint32_t device) const;

    // ---- dirty files ----
    Result<std::optional<DirtyFileRecord>> get_dirty_file(std::uint64_t file_id) const;
    // The first file id >= from that has a dirty-file record, with it; nullopt
    // when there is none.
    Result<std::optional<std::pair<std::uint64_t, DirtyFileRecord>>> next_dirty_file(std::uint64_t from) const;

    // ---- pinned files (index_format.h) ----
    struct PinnedFileEntry {
        std::uint64_t dev = 0;  // the key
        std::uint64_t ino = 0;
        // None when the value does not decode (`problem` says why): the
        // caller may still delete the entry by its key.
        std::optional<DirtyFileRecord> record;
        std::string problem;
    };
    // The first pinned-file entry at or after (dev, ino) in key order;
    // nullopt when there is none (also in an older index opened read-only).
    // Errc::corrupt for a key that does not decode.
    Result<std::optional<PinnedFileEntry>> next_pinned_file(std::uint64_t dev, std::uint64_t ino) const;

    // ---- names (name_format.h) ----
    // The record of `name` in directory `parent`; nullopt when there is
    // none (also in an older index opened read-only). Changes go through
    // IndexBatch::put_name and delete_name, so that a rename is one write.
    Result<std::optional<NameRecord>> get_name(std::uint64_t parent, std::string_view name) const;
    // ---- raw walks (fsck) ----
    enum class RecordFamily { files, dirty_files };
    // Calls visit with the key and value of every entry of the family as
    // stored, in key order, until it returns false: fsck decodes them
    // itself (file_format.h, dirty_file_format.h) so that a bad entry is
    // reported, not fatal.
    Status scan_records(RecordFamily family,
                        const std::function<bool(std::string_view key, std::string_view value)>& visit) const;

    // ---- batches ----
    // Applies the batch atomically (synced when `sync`) and clears it. On
    // error nothing was written and the batch is left as it was.
    Result<CommitResult> commit(IndexBatch& batch, bool sync);
    // Makes every write so far durable (syncs the WAL): fsync in writeback.
    Status sync();

private:
    explicit Index(std::unique_ptr<index_detail::IndexDb> db);
    std::unique_ptr<index_detail::IndexDb> db_;
};

}  // namespace bcl
