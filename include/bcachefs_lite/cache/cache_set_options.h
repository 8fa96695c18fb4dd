// CacheSetOptions: what CacheSet::open() is given (devices, index,
// geometry choices, background scheduling, the tunables at open), the test
// hooks among them, and the flags of one read or write. Kept apart from
// cache_set.h, which is the engine's interface.
//
// Thread safety: plain values.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/cache/cached_file.h"
#include "bcachefs_lite/cache/tunables.h"
#include "bcachefs_lite/device/block_device.h"
#include "bcachefs_lite/util/replacement.h"

namespace bcl {

// Where the index lives when CacheSetOptions::index_dir is not given:
// kDefaultIndexRoot/<cache UUID>.
inline constexpr std::string_view kDefaultIndexRoot = "/var/lib/bcachefs-lite";

struct CacheTestHooks {
    // Called by a miss insert after the backing read and before the insert
    // (file, block-aligned offset, length). Default: none.
    std::function<void(const CachedFile&, std::uint64_t, std::uint64_t)> before_miss_insert;
    // Called by a read after its index lookup and before it reads the cache
    // device (file, offset, length). Default: none.
    std::function<void(const CachedFile&, std::uint64_t, std::uint64_t)> after_read_lookup;
    // Called by a read before its index lookup: true makes the lookup fail
    // as if the index could not be read (file, offset, length). Default:
    // none.
    std::function<bool(const CachedFile&, std::uint64_t, std::uint64_t)> fail_read_lookup;
    // Called by a foreground or background writeback after its index lookup
    // and before it reads the dirty extents from the cache device (file,
    // start, end). Default: none.
    std::function<void(const CachedFile&, std::uint64_t, std::uint64_t)> after_write_back_lookup;
    // Called by moving GC after it copied a step's extents and before it
    // swaps their index entries. Default: none.
    std::function<void()> before_move_commit;
    // Called by moving GC right after that swap is committed and counted.
    // Default: none.
    std::function<void()> after_move_commit;
};

struct CacheSetOptions {
    // The cache device or file, or every device of one cache set (in any
    // order: each takes the place its superblock gives it). Required
    // unless `devices` is given.
    std::vector<std::string> cache_paths;
    // Already open devices to attach instead (MemDevice, FaultyDevice in
    // tests), likewise. Default: none.
    std::vector<std::unique_ptr<BlockDevice>> devices;
    // When the one cache path does not exist: create a cache FILE of this
    // many bytes and format it with the default geometry. An existing file
    // or a block device is never formatted here, nor a set of several
    // (bcachefs-lite-ctl format does that). Default: none (the cache must
    // exist).
    std::optional<std::uint64_t> create_size;
    // Copies of dirty data, 1 or 2, each in a bucket of another device of
    // the set (at most the set's devices); clean data keeps one copy.
    // Default: 1.
    unsigned replicas = 1;
    // Opens a cache set with members missing (at least one present): they
    // count as failed from the start, so the set opens failing and writes
    // back every dirty extent that has a copy on a present member, then
    // goes to passthrough (cache_state.h). A missing member is never read,
    // written, flushed or discarded, and the index keeps all it holds
    // about it, for a later mount with every member back. With every
    // member present it changes nothing. Default: false (a missing member
    // is refused).
    bool degraded = false;
    // The index directory, created (0700) on first use. Default: none,
    // meaning kDefaultIndexRoot/<set UUID> (the cache's UUID for a device
    // alone).
    std::optional<std::string> index_dir;
    // Refuse cache files, devices and an existing index directory that
    // users other than the daemon's may read or write (devices/private_files.h),
    // before anything is opened or changed. Default: false; the daemon
    // sets it unless mounted with allow_insecure_cache.
    bool require_private_files = false;
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
    // Threads that walk the index at once in a GC pass or step, each its
    // own range of keys (gc/gc.h); 0: one per hardware thread, at least 2.
    // Default: 0.
    unsigned gc_threads = 0;
    // The mode and the tunables at open: set_tunables() and the setters of
    // each group change them later. Default: Tunables{} (writethrough,
    // bcache's defaults).
    Tunables tunables;
    // A descriptor of the backing directory's root (O_PATH is enough); the
    // set opens the directory again for itself. Writeback finds the files that hold dirty data
    // by file handle (name_to_handle_at), resolved against it, so it is
    // required for mode=writeback and to write back dirty data an earlier
    // mount left. Default: -1 (none).
    int backing_root_fd = -1;
    // The caller names files by ids of its own instead of backing inode
    // numbers (the fs layer's identity=path: the statx it passes carries
    // its id as stx_ino). What names backing inodes then cannot be used:
    // file handles (so no writeback, no dirty data left by another mount,
    // no pinned-file records) and the walk of a pinned directory, which
    // names the files it finds by inode. Each is refused with an error
    // that says so. Default: false.
    bool caller_identities = false;
    // Bytes of a pinned file one background fetch step reads and caches
    // before yielding the strand. Default: 1 MiB.
    std::uint64_t pin_fetch_step_bytes = 1u << 20;
    // Default: none.
    CacheTestHooks hooks;
};

// How a write was issued.
struct WriteFlags {
    // O_APPEND: the data goes at end of file, whatever the offset says.
    bool append = false;
    // O_SYNC or O_DSYNC: durable (as fsync() says) before write() returns.
    bool sync = false;
    // O_DIRECT: the backing file open with O_DIRECT (util/direct_io.h),
    // for the aligned writes that go to the backing file; -1 when none.
    int direct_fd = -1;
    // Who writes, for sequential detection (sequential.h); 0: nobody known.
    std::uint64_t writer = 0;
};

// How a read was issued.
struct ReadFlags {
    // Who reads, for sequential detection (sequential.h); 0: nobody known.
    std::uint64_t writer = 0;
};

}  // namespace bcl
