// CacheSet: the cache engine of one mount in writethrough mode. It owns the
// cache device(s), the index, the bucket allocators with their open
// buckets, the background executor (one io_context, one thread, a strand)
// and the per-file coherency state, and serves reads and writes of backing
// files given as open descriptors. It knows nothing of FUSE: the fs layer's
// CachedFileData maps its FileData seam onto these calls.
//
// Life: open() assembles everything and runs the first GC (mark) pass so
// the allocator can work; the index's clean-shutdown flag is false while
// the set is open and set back to true by a clean close(), which flushes
// the device, syncs the index and stops the background thread. After an
// unclean shutdown the first GC pass drops every extent: unsynced index
// writes may have reached the disk while the cache data they point to had
// not been flushed, and in writethrough the cache holds nothing that the
// backing files do not (the cache only starts cold).
//
// Reads (read_path.cc): the extents overlapping the range are looked up
// with one Seek; an extent whose gen equals its bucket's is read from the
// cache device through an aligned bounce buffer, and the gen is checked
// again after the read (bcache's ptr_stale): a changed gen, a read error or
// a gap is read from the backing file instead. Missed data, widened to
// whole blocks, is written to the cache through the open buckets and
// indexed without waiting for durability. The block that holds end of file
// is cached too, padded with zeroes; reads clamp what the cache serves to
// the size the file record holds and read anything past it from the
// backing file, so the padding is never returned.
//
// Invariant 4: a miss insert samples the file's write_seq before reading
// the backing file and inserts, under the file's mutex, only if it is
// unchanged; writes bump it under the same mutex after the backing write.
// options.hooks.before_miss_insert runs between the two, for tests.
//
// Writes (write_path.cc): the backing file first, then under the file's
// mutex write_seq is bumped, the written blocks are removed from the index
// and the file record is updated to the file's new size, mtime and ctime
// (so the cache's own writes are not mistaken for changes behind its back).
// The allocator learns of the freed sectors at the next GC.
//
// GC (gc.cc): a mark pass streams every extent in bounded steps on the
// strand; stale extents are deleted with delete-if-unchanged. A pass is
// asked for (request_gc(), at most one queued) by the GC timer, by the
// allocator when it finds nothing to invalidate, and, as bcache's
// sectors_to_gc does, once a sixteenth of the cache's data sectors has been
// written to the cache since the last pass started (cache_set.cc). Foreground
// inserts continue during a pass; since every read checks gens, a bucket
// whose live data GC undercounted can only be invalidated with its gen
// bumped, which costs a later miss and never returns wrong data (this
// holds for clean data only; dirty data will need GC to see every insert).
//
// Thread safety: every public function may be called from any thread
// concurrently, except open(), close() and the destructor, and
// run_background_until_idle()/run_gc() in manual mode, which belong to the
// owner's thread. Lock order: FileTable's mutex, then a CachedFile's mutex,
// then the index's and the allocator's internal locks.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/alloc/open_buckets.h"
#include "bcachefs_lite/cache/background.h"
#include "bcachefs_lite/cache/cached_file.h"
#include "bcachefs_lite/cache/consistency.h"
#include "bcachefs_lite/cache/stats.h"
#include "bcachefs_lite/device/block_device.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"

namespace bcl {

class FileTable;
class GcCountdown;
class GcJob;
class IndexGenStore;

// Where the index lives when CacheSetOptions::index_dir is not given:
// kDefaultIndexRoot/<cache UUID>.
inline constexpr std::string_view kDefaultIndexRoot = "/var/lib/bcachefs-lite";

struct CacheTestHooks {
    // Called by a miss insert after the backing read and before the insert
    // (file, block-aligned offset, length). Default: none.
    std::function<void(const CachedFile&, std::uint64_t, std::uint64_t)> before_miss_insert;
};

struct CacheSetOptions {
    // The cache device or file. Required unless `device` is given.
    std::string cache_path;
    // An already open device to attach instead (MemDevice, FaultyDevice in
    // tests). Default: none.
    std::unique_ptr<BlockDevice> device;
    // When cache_path does not exist: create a cache FILE of this many
    // bytes and format it with the default geometry. An existing file or a
    // block device is never formatted here (bcachefs-lite-ctl format does
    // that). Default: none (the cache must exist).
    std::optional<std::uint64_t> create_size;
    // The index directory, created on first use. Default: none, meaning
    // kDefaultIndexRoot/<cache UUID>.
    std::optional<std::string> index_dir;
    // Replacement policy. Default: none, meaning the superblock's.
    std::optional<Replacement> replacement;
    // Discard buckets before reuse. Default: none, meaning the superblock's.
    std::optional<bool> discard;
    // No background thread: background work runs only in
    // run_background_until_idle() and run_gc(). Default: false.
    bool manual_background = false;
    // Period of the GC timer; zero disables it. Default: 60 s.
    std::chrono::milliseconds gc_interval{60000};
    // Extents one GC step handles before yielding the strand. Default: 4096.
    std::size_t gc_batch = 4096;
    // Default: none.
    CacheTestHooks hooks;
};

class CacheSet {
public:
    // Opens (or creates, see create_size) the cache device and its index,
    // loads bucket gens, runs the first GC pass, fills the freelists and
    // starts the background thread (unless manual_background). Every error
    // is one line (Errc::foreign for an index of another cache or a device
    // that is not a cache); a failed open leaves nothing behind that it
    // created (a cache file it made, an index directory it made).
    static Result<std::unique_ptr<CacheSet>> open(CacheSetOptions options, Logger& log);
    // Closes (see close()) if that was not done; errors are logged.
    ~CacheSet();
    CacheSet(const CacheSet&) = delete;
    CacheSet& operator=(const CacheSet&) = delete;

    // Stops background work, flushes the cache device, writes every
    // bucket's gen and prio (so the LRU order survives a restart), syncs
    // the index and sets its clean flag. Idempotent; after it only destruction is valid.
    Status close();

    // ---- files ----
    // The shared state of the file open as `fd` (statx'ed as `stx`, with
    // STATX_BTIME when the file system has it): a new file id when the file
    // is new or changed behind the cache's back. Pair with release_file().
    Result<std::shared_ptr<CachedFile>> open_file(int fd, const struct statx& stx);
    void release_file(const std::shared_ptr<CachedFile>& file);

    // Reads up to out.size() bytes at offset of the file open as fd; fewer
    // at end of file. Never fails because of the cache device. Revalidates
    // the file first, so a descriptor kept open across a change made behind
    // the cache's back never reads the old contents from the cache.
    Result<std::size_t> read(CachedFile& file, int fd, std::uint64_t offset, std::span<std::byte> out);

    // Compares the file open as fd with its record, as open_file() does, and
    // drops its cached data if it changed behind the cache's back since the
    // last check (one statx).
    Status revalidate(CachedFile& file, int fd);
    // For writers that write the backing file themselves: revalidate()
    // before, written() after, for the byte range [start, end) that may
    // have changed (end UINT64_MAX: to end of file).
    Status written(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end);
    // pwrite of all of data at offset, between revalidate and written.
    Result<std::size_t> write(CachedFile& file, int fd, std::uint64_t offset, std::span<const std::byte> data);
    // ftruncate (or, for an O_PATH fd, truncate of its /proc path), then
    // trims the cached blocks from the new end on. file may be null when
    // the file is not open through the mount.
    Status truncate(CachedFile* file, int fd, std::uint64_t size);
    // fallocate(2) on the backing file, then invalidates what it changed:
    // the range for PUNCH_HOLE and ZERO_RANGE, everything from offset on for
    // COLLAPSE_RANGE and INSERT_RANGE.
    Status fallocate(CachedFile& file, int fd, int mode, std::uint64_t offset, std::uint64_t length);
    // A name of (dev, ino) was removed and links_left remain: at 0 its
    // extents are dropped (one range delete) and its record deleted.
    void unlinked(std::uint64_t dev, std::uint64_t ino, std::uint64_t links_left);

    // A change of a file's metadata alone (rename, link, chmod, chown,
    // utimens) was made through the mount; `before` and `after` are the
    // file's statx (with STATX_BTIME where the file system has it) taken
    // just before and just after it. The file's record (in memory and in the
    // index) takes the after mtime and ctime, so the change does not make
    // the cached data look changed behind the cache's back — but only if the
    // record still matches `before` (identity, size, mtime, ctime) and the
    // size is unchanged: a change behind the cache's back made before the
    // operation is still detected at the next open (invariant 5). True when
    // the record was refreshed.
    Result<bool> metadata_changed(const struct statx& before, const struct statx& after);

    // Bytes of the file (dev, ino) held in valid extents, up to its size.
    Result<std::uint64_t> cached_bytes(std::uint64_t dev, std::uint64_t ino);

    // ---- stats, GC, background ----
    // The counters, and the bucket figures as the allocator knows them now
    // (one walk over the bucket table; during a GC pass, the figures of the
    // last pass).
    CacheStats stats() const;
    // Asks for a GC pass on the strand (the allocator's wake_gc does this).
    void request_gc();
    // Runs a whole GC pass now and returns its status: in manual mode on
    // the calling thread, else on the strand while the caller waits.
    Status run_gc();
    // Manual mode: runs background handlers until none is ready; returns
    // how many ran (0 when the background thread runs them).
    std::size_t run_background_until_idle();
    Result<ConsistencyReport> check_consistency() const;

    // ---- parts, for tests and tools ----
    const Superblock& superblock() const { return devices_[0]->superblock(); }
    CacheDevice& device(unsigned dev = 0) { return *devices_[dev]; }
    Index& index() { return *index_; }
    AllocSet& alloc() { return *alloc_; }
    const std::string& index_dir() const { return index_dir_; }
    // Whether the index's clean flag was set when this set was opened.
    bool opened_clean() const { return opened_clean_; }

private:
    struct ReadState;
    CacheSet(Logger& log, CacheSetOptions& options);

    Status assemble(CacheSetOptions& options, bool& created_index);
    Status persist_all_prios();
    void schedule_gc_timer();
    void gc_kick();
    // Counts sectors written to the cache device; see request_gc's rule.
    void count_cache_write(std::uint64_t sectors);

    // read_path.cc
    bool read_extent(const Extent& e, std::uint64_t start, std::uint64_t end, std::byte* dst);
    Status read_backing(ReadState& st, std::uint64_t start, std::uint64_t end, bool insert);
    // miss_insert.cc
    void insert_miss(CachedFile& file, std::uint64_t file_id, std::uint64_t seq, std::uint64_t offset,
                     std::span<const std::byte> data);
    // write_path.cc
    Status invalidate_locked(CachedFile& file, const struct statx& stx, std::uint64_t start, std::uint64_t end);

    Logger& log_;
    const std::chrono::milliseconds gc_interval_;
    const std::size_t gc_batch_;
    CacheTestHooks hooks_;
    std::string index_dir_;
    bool opened_clean_ = false;
    std::uint32_t block_size_ = 0;

    // Declared in construction order; destroyed in reverse (close() first
    // stops everything that runs).
    std::vector<std::unique_ptr<CacheDevice>> devices_;
    std::unique_ptr<Index> index_;
    std::unique_ptr<IndexGenStore> gen_store_;
    std::unique_ptr<Background> background_;
    std::unique_ptr<AllocSet> alloc_;
    std::unique_ptr<SectorAllocator> sectors_;
    std::unique_ptr<FileTable> files_;
    std::unique_ptr<GcCountdown> gc_countdown_;
    std::unique_ptr<GcJob> gc_;
    CacheCounters counters_;

    std::atomic<bool> closing_{false};
    bool closed_ = false;                       // owner's thread only
    std::atomic<bool> gc_queued_{false};        // a gc_kick is posted
    std::atomic<bool> gc_requested_{false};     // a pass was asked for
    struct Timer;
    std::unique_ptr<Timer> gc_timer_;           // used on the strand only
};

}  // namespace bcl
