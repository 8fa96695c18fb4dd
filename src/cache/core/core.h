// CacheCore: what every part of a cache set shares, as data: the cache
// devices and their superblock flags, the index, the background executor,
// the allocators with their open buckets, the file table, the counters,
// the service state, the backing directory as the set knows it, and the
// GC requests. The parts (reads, writes, writeback, GC, pinning, ...) take
// it by reference; CacheSet (cache/cache_set.h) fills it at open, in the
// order its fields are declared, and empties it at close.
//
// core/ includes devices/ (superblock_flags.h) and files/, and uses
// policy/'s congestion meter (cache/sequential.h).
//
// Thread safety: the pointers are set during open and cleared only by
// destruction; what they point at says for itself. The atomics may be read
// from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bcachefs_lite/alloc/alloc_set.h"
#include "bcachefs_lite/alloc/open_buckets.h"
#include "bcachefs_lite/cache/background.h"
#include "bcachefs_lite/cache/backing_link.h"
#include "bcachefs_lite/cache/cache_mode.h"
#include "bcachefs_lite/cache/cache_set_options.h"
#include "bcachefs_lite/cache/cache_state.h"
#include "bcachefs_lite/cache/cached_file.h"
#include "bcachefs_lite/cache/coherency_window.h"
#include "bcachefs_lite/cache/sequential.h"
#include "bcachefs_lite/cache/stats.h"
#include "bcachefs_lite/cache/tunables.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/index/index.h"
#include "bcachefs_lite/util/error.h"
#include "bcachefs_lite/util/log.h"
#include "core/gc_requests.h"
#include "core/index_gen_store.h"
#include "devices/superblock_flags.h"
#include "files/file_table.h"

namespace bcl {

// Each file stream writes through one of kWritePoints write points (by file
// id), so a file's blocks share buckets while concurrent streams tend to
// use different ones. Few of them, because every write point keeps a partly
// filled bucket pinned in the open buckets. Moving GC writes through its
// own, the next one.
inline constexpr std::uint64_t kWritePoints = 8;

struct CacheCore {
    // The tunables the core keeps: mode, actimeo, backing_timeout,
    // pin_limit_percent.
    CacheCore(Logger& log, CacheTestHooks hooks, const Tunables& tunables);

    Logger& log;
    const CacheTestHooks hooks;
    std::uint32_t block_size = 0;

    // Declared in the order open fills them; destroyed in reverse (close()
    // first stops everything that runs).
    std::vector<std::unique_ptr<CacheDevice>> devices;
    std::vector<std::unique_ptr<SuperblockFlags>> sb_flags;  // one per device
    std::unique_ptr<Index> index;
    std::unique_ptr<IndexGenStore> gen_store;
    std::unique_ptr<Background> background;
    std::unique_ptr<AllocSet> alloc;
    std::unique_ptr<SectorAllocator> sectors;          // one copy: clean, pinned, moved single copies
    std::unique_ptr<SectorAllocator> replica_sectors;  // `replicas` copies; none when replicas is 1
    unsigned replicas = 1;
    std::uint64_t capacity_bytes = 0;  // data bytes of all cache devices
    std::unique_ptr<FileTable> files;
    std::unique_ptr<GcRequests> gc_requests;
    CacheCounters counters;
    // How fast the cache device answers (sequential.h): fed by every read
    // and write below, asked by admission.
    CongestionMeter congestion;

    std::atomic<bool> closing{false};
    std::atomic<CacheMode> mode;
    std::atomic<std::int64_t> dirty_counted{0};  // may dip below 0 briefly: read through dirty_bytes()
    std::atomic<bool> dirty_seen{false};         // dirty data counted since open: see may_hold_dirty()
    std::atomic<unsigned> pin_limit_percent{50};
    std::atomic<CacheState> state{CacheState::running};
    std::atomic<std::uint32_t> failed_devices{0};  // bit d: device d failed, never read again

    // The backing directory.
    CoherencyWindow window;
    BackingLink backing_link{log};
    int root_fd = -1;  // the backing root (dup), or -1
    std::uint64_t root_dev = 0;
    bool writeback_possible = false;    // file handles work below root_fd
    bool caller_identities = false;     // CacheSetOptions::caller_identities
    std::string writeback_unavailable;  // why not

    // Whether the cache is in service (state running).
    bool in_service() const { return state.load(std::memory_order_acquire) == CacheState::running; }
    // Whether device `dev` exists and has not failed: a copy on it may be read.
    bool device_usable(unsigned dev) const {
        return dev < devices.size() && (failed_devices.load(std::memory_order_acquire) & (1u << dev)) == 0;
    }
    // Whether device `dev` exists and is no stand-in for a missing member
    // (degraded): a stand-in is never read, not even for a last copy.
    bool device_present(unsigned dev) const { return dev < devices.size() && devices[dev]->present(); }
    // Where dirty data is allocated: `replicas` buckets at once.
    SectorAllocator& dirty_sectors() { return replica_sectors ? *replica_sectors : *sectors; }

    // core/accounting.cc
    std::uint64_t dirty_bytes() const;
    // Whether the cache may hold dirty data. dirty_bytes() is a count kept
    // beside the index, not in it: between a commit and its count, or after
    // writeback resets it, it can read 0 while dirty extents exist. What
    // must never drop dirty data (writing back the blocks a truncate or a
    // direct write cuts into, fsync) asks this instead: true once any dirty
    // data was counted since the cache opened.
    bool may_hold_dirty() const;
    void add_dirty(std::int64_t bytes);
    // Counts what inserts and removals took away (overwritten sectors, and
    // dirty bytes that will never be written back).
    void account_overwrites(const std::vector<ExtentOverwrite>& overwrites);
    // Bytes of the file (dev, ino), up to its size, in the extents `counts`
    // picks.
    Result<std::uint64_t> file_bytes(std::uint64_t dev, std::uint64_t ino,
                                     const std::function<bool(const Extent&)>& counts);
    // The byte budget of pinned data (pin_limit_percent of the capacity).
    std::uint64_t pin_limit_bytes() const;
    // The engine's read-write descriptor of the file open as fd (made
    // once, kept in the file's state); file.write_lock held.
    Result<int> rw_fd_locked(CachedFile& file, int fd);
    // Compares the file open as fd with its record, as CacheSet::open_file()
    // does, and drops its cached data if it changed behind the cache's back
    // since the last check (one statx).
    Status revalidate(CachedFile& file, int fd);

    // core/clean_insert.cc: data read from the backing file (a read miss,
    // a writethrough write, a pinned file's fetch) into the cache. It goes
    // in as pinned when the file's record is pinned and pinned data has
    // room under the limit; otherwise, for a pinned file, it is not
    // inserted at all when `pinned_only`. `seq`: the file's write_seq
    // sampled before the backing read (invariant 4). Returns the bytes
    // inserted.
    std::uint64_t insert_clean(CachedFile& file, std::uint64_t file_id, std::uint64_t seq, std::uint64_t offset,
                               std::span<const std::byte> data, bool pinned_only = false);

    // core/extent_io.cc: the one read path of cached data and the one write
    // path of an allocation.
    // Reads [start, end) of the file from `run`: extents back to back in
    // the file and on one cache device, read with one I/O. False when any
    // of them is stale or the read fails (dst then holds garbage).
    // `copy`: which copy of each extent (their first unless a caller
    // retries another). False too when that copy's device failed, unless
    // `failed_too`.
    bool read_extents(std::span<const Extent> run, std::uint64_t start, std::uint64_t end, std::byte* dst,
                      bool count_hit = true, unsigned copy = 0, bool failed_too = false);
    // Reads from the extent's first copy that can be read: a read error or
    // a stale gen on one copy tries the next. A device that failed is read
    // only for a copy no working device has (dirty data whose one copy is
    // there: evacuation writes back what it can still read).
    bool read_extent(const Extent& e, std::uint64_t start, std::uint64_t end, std::byte* dst, bool count_hit = true);
    // Writes `data` (the allocation's sectors) to each copy of `a`, and
    // counts them towards the next GC pass; the first failure, counted in
    // cache_write_errors. The caller still holds (and puts) `a`.
    Status write_allocation(const SectorAlloc& a, std::span<const std::byte> data);
    // Also core/clean_insert.cc: insert_clean()'s piece of one allocation.
    bool insert_clean_piece(CachedFile& file, std::uint64_t file_id, std::uint64_t seq, std::uint64_t at,
                            std::span<const std::byte> piece, const SectorAlloc& a, bool pinned);
    // A cache device request of `kind` that started at `start` has ended.
    void io_done(CacheIo kind, SeqClock::time_point start);

    // Flushes every cache device; nothing while out of service.
    Status flush_devices();
    // The cache device's path, or the paths of the set's devices joined
    // with ':' (as cache= names them), for messages.
    std::string cache_name() const;
};

}  // namespace bcl
