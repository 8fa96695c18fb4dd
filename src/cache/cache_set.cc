// CacheSet: open, close and the assembly of its parts; the files as the
// engine knows them, and what the facade hands to its parts.
//
// Life: open() assembles everything and runs the first GC (mark) pass so
// the allocator can work. A cache device whose superblock says it may
// hold dirty data (kSbFlagDirty, set before the first dirty write of a
// mount, cleared by a clean close that leaves none) is refused when its
// index is missing, since that data could no longer be found; without the
// flag a missing index only means a cold cache, and a warning when the
// device had an index before (kSbFlagIndexed). The index's clean-shutdown
// flag is false while the set is open and set back to true by a clean
// close(), which flushes the device, syncs the index and stops the
// background thread. After an unclean shutdown the first GC pass drops
// every clean extent: unsynced index writes may have reached the disk
// while the cache data they point to had not been flushed, and the
// backing files hold that data anyway. Dirty extents stay: their data was
// written before they were indexed, and every synced index write and
// memtable flush flushes the cache device first
// (IndexOptions::before_durable).
//
// Where each part works, and says how: reads (io/read_path.cc), inserts
// of clean data and invariant 4 (core/clean_insert.cc), sequential bypass
// and congestion (io/admission.h), routes (route.h), writes
// (io/write_path.cc), dirty writes (io/dirty_write.cc), writeback
// (writeback/write_back.cc), GC (gc/gc.cc, gc/scheduler.h), pinning
// (pin/pinning.cc), moving GC (gc/moving_gc.cc), device errors
// (health/io_errors.cc) and cache sets of several devices
// (devices/open.cc).
//
// Assembly: the core's devices, index, allocators and file table first,
// then the parts, each given the core (and the parts it asks) by
// reference; a failed open undoes what it made. Close stops the parts'
// timers on the strand, then the allocators and the background thread,
// before the index's last writes.
#include "bcachefs_lite/cache/cache_set.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <future>

#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/crc32c.h"
#include "core/core.h"
#include "devices/open.h"
#include "devices/private_files.h"
#include "devices/superblock_flags.h"
#include "files/file_handle.h"
#include "files/file_table.h"
#include "gc/bucket_count.h"
#include "gc/scheduler.h"
#include "health/io_errors.h"
#include "io/admission.h"
#include "io/data_path.h"
#include "report/report.h"
#include "writeback/writeback.h"

namespace bcl {

struct CacheSet::Timer {
    explicit Timer(Background& bg) : timer(bg.strand()) {}
    boost::asio::steady_timer timer;
};

namespace {

// How often the calls in flight on the backing are checked against
// backing_timeout: how late past it a hung call is noticed.
constexpr std::chrono::milliseconds kLinkCheckInterval{250};

// The index is missing: a cache that may hold dirty data cannot start
// without it (that data could not be found); one that had an index starts
// empty, with a warning.
Status start_without_index(const std::vector<std::unique_ptr<CacheDevice>>& devices, const std::string& cache_name,
                           const std::string& index_dir, Logger& log) {
    const bool any_dirty =
        std::any_of(devices.begin(), devices.end(), [](const auto& d) { return d && d->superblock().dirty(); });
    const bool any_indexed = std::any_of(devices.begin(), devices.end(), [](const auto& d) {
        return d && (d->superblock().flags & kSbFlagIndexed) != 0;
    });
    if (any_dirty)
        return make_error(Errc::corrupt,
                          fmt::format("cache {} may hold dirty data, but its index {} is missing: without it "
                                      "that data cannot be found; restore the index (or name it with index=), "
                                      "or give the data up by formatting the cache anew",
                                      cache_name, index_dir));
    if (any_indexed)
        log.warn("cache {}: its index {} is missing; a new one is made and the cache starts empty", cache_name,
                 index_dir);
    return ok();
}

}  // namespace

CacheSet::CacheSet(Logger& log, CacheSetOptions& options)
    : core_(std::make_unique<CacheCore>(log, std::move(options.hooks), options.tunables)) {}

Result<std::unique_ptr<CacheSet>> CacheSet::open(CacheSetOptions options, Logger& log) {
    if (options.replicas < 1 || options.replicas > 2)
        return make_error(Errc::invalid, fmt::format("replicas={}: expected 1 or 2", options.replicas));
    DeviceOpenOptions open_options;
    open_options.create_size = options.create_size;
    open_options.degraded = options.degraded;
    auto opened = open_cache_devices(options.cache_paths, std::move(options.devices), open_options);
    if (!opened) return opened.error();
    // After the open, which names a device that is no cache at all first;
    // a cache file it created is private already.
    if (options.require_private_files)
        for (const std::string& path : options.cache_paths) BCL_TRY(check_private_cache(path));
    if (options.replicas > opened.value().devices.size()) {
        const bool one = opened.value().devices.size() == 1;
        if (opened.value().created) ::unlink(options.cache_paths[0].c_str());
        return make_error(Errc::invalid,
                          fmt::format("replicas={} needs a cache set of at least {} devices; cache {} has {}",
                                      options.replicas, options.replicas,
                                      one ? opened.value().devices[0]->path()
                                          : uuid_to_string(opened.value().devices[0]->superblock().set_id()),
                                      opened.value().devices.size()));
    }
    std::unique_ptr<CacheSet> set(new CacheSet(log, options));
    set->core_->devices = std::move(opened.value().devices);
    const bool created_device = opened.value().created;

    bool created_index = false;
    Status st = set->assemble(options, created_index);
    if (!st) {
        // Undo what this open created, so a refused open changes nothing.
        const std::string index_dir = set->index_dir_;
        set->closed_ = true;
        set->core_->closing = true;
        if (set->core_->background) set->core_->background->stop();
        if (set->core_->alloc) set->core_->alloc->shutdown();
        set.reset();
        std::error_code ec;
        if (created_index) std::filesystem::remove_all(index_dir, ec);
        if (created_device) ::unlink(options.cache_paths[0].c_str());
        return st.error();
    }
    return set;
}

Status CacheSet::assemble(CacheSetOptions& options, bool& created_index) {
    BCL_TRY(validate(options.tunables));
    BCL_TRY(open_backing_root(options));
    BCL_TRY(open_index(options, created_index));
    BCL_TRY(build_allocators(options));
    BCL_TRY(start_serving());
    const CacheDevice& dev =
        **std::find_if(core_->devices.begin(), core_->devices.end(), [](const auto& d) { return d->present(); });
    core_->log.debug("cache {} open: {} buckets of {} bytes, index {}", core_->cache_name(),
                     dev.nbuckets() - dev.first_bucket(), dev.bucket_size(), index_dir_);
    return ok();
}

Status CacheSet::open_backing_root(const CacheSetOptions& options) {
    if (options.backing_root_fd >= 0) {
        // open_by_handle_at() refuses O_PATH descriptors: open it for real.
        const std::string proc = fmt::format("/proc/self/fd/{}", options.backing_root_fd);
        core_->root_fd = ::open(proc.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (core_->root_fd < 0) return sys_error(errno, "the backing directory");
        struct stat st;
        if (::fstat(core_->root_fd, &st) != 0) return sys_error(errno, "stat of the backing directory");
        core_->root_dev = st.st_dev;
        auto handles = check_file_handles(core_->root_fd);
        core_->writeback_possible = static_cast<bool>(handles);
        if (!handles) core_->writeback_unavailable = handles.error().message;
    } else {
        core_->writeback_unavailable = "the backing directory was not given to the cache";
    }
    core_->caller_identities = options.caller_identities;
    if (core_->caller_identities) {
        core_->writeback_possible = false;
        core_->writeback_unavailable =
            "this mount recognises files by path (identity=path) and writeback finds them by "
            "file handle; mount with identity=inode";
    }
    if (options.tunables.mode == CacheMode::writeback && !core_->writeback_possible)
        return make_error(Errc::unsupported, fmt::format("mode=writeback: {}", core_->writeback_unavailable));
    return ok();
}

Status CacheSet::open_index(CacheSetOptions& options, bool& created_index) {
    // Missing members (degraded) have no device until the index is open.
    CacheDevice& dev =
        **std::find_if(core_->devices.begin(), core_->devices.end(), [](const auto& d) { return d != nullptr; });
    const Superblock& sb = dev.superblock();
    core_->block_size = sb.block_size;
    index_dir_ = options.index_dir.value_or(std::string(kDefaultIndexRoot) + "/" + uuid_to_string(sb.set_id()));

    std::error_code ec;
    created_index = !std::filesystem::exists(index_dir_, ec);
    auto have_index = Index::exists(index_dir_);
    if (!have_index) return have_index.error();
    // A new index is made private; an existing one must be so already.
    if (have_index.value() && options.require_private_files) BCL_TRY(check_private_index(index_dir_));
    if (!have_index.value()) BCL_TRY(start_without_index(core_->devices, core_->cache_name(), index_dir_, core_->log));
    IndexOptions io;
    io.create_if_missing = true;
    io.cache_uuid = sb.set_id();
    // Rule 2 of index_format.h: whatever the index is about to make durable
    // may point at cache data; that data becomes durable first.
    io.before_durable = [this] { return core_->flush_devices(); };
    auto index = Index::open(index_dir_, io);
    if (!index) {
        if (index.error().code == Errc::foreign)
            return make_error(Errc::foreign,
                              fmt::format("{}; give this cache its own index= directory", index.error().message));
        return index.error();
    }
    core_->index = std::move(index).value();
    // Before the first index write, which flushes the devices first.
    BCL_TRY(stand_in_missing_members(*core_));
    for (unsigned d = 0; d < core_->devices.size(); ++d) {
        core_->devices[d]->io_errors().set_tunables(options.tunables.io_errors);
        core_->devices[d]->on_error_limit([this, d](const Error& e) { device_failed(d, e); });
    }
    for (auto& d : core_->devices)
        core_->sb_flags.push_back(std::make_unique<SuperblockFlags>(d->device(), d->superblock()));

    sequence_at_open_ = core_->index->sequence();  // before this open writes anything
    auto clean = core_->index->clean_shutdown();
    if (!clean) return clean.error();
    opened_clean_ = clean.value();
    // Rule 7 of index_format.h: cleared before the first mutation, in the
    // write that records where this mount found its devices (what
    // `bcachefs-lite-ctl index list` looks for).
    MountRecord mount{static_cast<std::uint64_t>(::time(nullptr)), {}};
    for (const auto& p : options.cache_paths) {
        auto abs = std::filesystem::absolute(p, ec);
        mount.cache_paths.push_back(ec ? p : abs.string());
    }
    BCL_TRY(core_->index->begin_mount(mount));

    return ok();
}

Status CacheSet::build_allocators(CacheSetOptions& options) {
    core_->gen_store = std::make_unique<IndexGenStore>(*core_->index, core_->devices);
    core_->background = std::make_unique<Background>(options.manual_background);
    std::uint64_t data_sectors = 0;
    for (const auto& d : core_->devices) data_sectors += (d->nbuckets() - d->first_bucket()) * d->bucket_sectors();
    core_->capacity_bytes = data_sectors * kSectorSize;
    // Before the allocators, whose wake_gc asks it for passes; the steps it
    // posts run once the set serves, when gc_ is there.
    core_->gc_requests =
        std::make_unique<GcRequests>(data_sectors, *core_->background, core_->closing, [this] { gc_->step(); });

    std::vector<CacheDeviceConfig> configs;
    for (auto& d : core_->devices) {
        CacheDeviceConfig c;
        c.geometry = Geometry{d->nbuckets(), d->first_bucket(), d->bucket_sectors(), d->block_sectors()};
        c.options.replacement = options.replacement.value_or(d->superblock().replacement);
        if (d->present() && options.discard.value_or(d->superblock().discard())) {
            CacheDevice* raw = d.get();
            c.options.discard = [raw](std::uint64_t bucket) { return raw->discard_bucket(bucket); };
        }
        c.options.wake_gc = [this] { core_->gc_requests->allocator_wants_gc(); };
        // Moving GC allocates from free[movinggc] (write_prio), so that it
        // can copy data out even when foreground writes took every other
        // free bucket.
        c.options.movinggc_reserve = true;
        configs.push_back(std::move(c));
    }
    auto alloc = AllocSet::create(configs, *core_->gen_store, core_->background->executor());
    if (!alloc) return alloc.error();
    core_->alloc = std::move(alloc).value();

    for (unsigned d = 0; d < core_->devices.size(); ++d) {
        auto gens = core_->index->load_bucket_gens(d);
        if (!gens) return gens.error();
        std::vector<BucketGenPrio> loaded;
        loaded.reserve(gens.value().size());
        for (const BucketGenRecord& g : gens.value()) loaded.push_back(BucketGenPrio{g.bucket, g.gen, g.prio});
        BCL_TRY(core_->alloc->device(d).load(loaded));
        // A missing member's buckets keep their gens: nothing is allocated
        // there, so its allocator never invalidates, persists or discards.
        if (!core_->devices[d]->present()) core_->alloc->device(d).shutdown();
    }
    core_->sectors = std::make_unique<SectorAllocator>(*core_->alloc);
    core_->replicas = options.replicas;
    if (core_->replicas > 1) core_->replica_sectors = std::make_unique<SectorAllocator>(*core_->alloc, core_->replicas);
    core_->files = std::make_unique<FileTable>(*core_->index, core_->log, [this] { request_gc(); });
    admission_ = std::make_unique<Admission>(*core_, options.tunables.promotion, options.tunables.bypass);
    writeback_ = std::make_unique<Writeback>(*core_, options.tunables.writeback);
    data_path_ = std::make_unique<DataPath>(*core_, *admission_, *writeback_);
    pins_ = std::make_unique<Pins>(*core_, options.pin_fetch_step_bytes ? options.pin_fetch_step_bytes : 1);
    gc_ = std::make_unique<GcScheduler>(*core_, options.gc_interval, options.gc_batch, options.gc_threads,
                                        options.tunables.moving_gc);

    return ok();
}

Status CacheSet::start_serving() {
    // The first GC pass makes the allocator's marks valid; after a clean
    // close they come from the snapshot that close saved, so that the cache
    // serves at once however many extents it holds. After an unclean
    // shutdown the pass drops every clean extent (see the header).
    auto restored = gc_->restore_snapshot(index_dir_, sequence_at_open_, opened_clean_);
    if (!restored) return restored.error();
    opened_from_gc_snapshot_ = restored.value();
    if (auto st = check_index_contents(restored.value() ? ok() : gc_->job().run_pass(!opened_clean_)); !st) {
        // The pass deleted at most stale extents, which point at nothing:
        // the index is as clean as it was, and a repaired one need not
        // start cold.
        if (opened_clean_) (void)core_->index->set_clean_shutdown(true);
        return st;
    }
    if (gc_->job().last_pass().dropped != 0)
        core_->log.warn("cache {} was not shut down cleanly: {} clean cached extents dropped", core_->cache_name(),
                        gc_->job().last_pass().dropped);
    core_->dirty_counted.store(static_cast<std::int64_t>(gc_->job().last_pass().dirty_bytes),
                               std::memory_order_release);
    if (core_->dirty_bytes() != 0) core_->dirty_seen.store(true, std::memory_order_release);
    if (core_->dirty_bytes() != 0 && !core_->writeback_possible)
        return make_error(Errc::unsupported,
                          fmt::format("cache {} holds {} bytes of dirty data that cannot be written back: {}",
                                      core_->cache_name(), core_->dirty_bytes(), core_->writeback_unavailable));
    // Fill the freelists before the first read needs them.
    core_->background->run_until_idle();
    gc_->start_timer();
    link_timer_ = std::make_unique<Timer>(*core_->background);
    schedule_link_check();
    writeback_->start();
    // The device failed during the first GC pass.
    if (!core_->in_service())
        boost::asio::post(core_->background->strand(), [this] { writeback_->start_evacuation(); });
    for (unsigned d = 0; d < core_->devices.size(); ++d)
        if (core_->devices[d]->present()) BCL_TRY(core_->sb_flags[d]->set(kSbFlagIndexed));
    // Pinned files come back into the cache without waiting to be opened.
    pins_->queue_pin_resume();
    core_->background->start();
    return ok();
}

// An index whose entries do not decode is refused at open: serving from it
// could return wrong data, and fsck can tell what may be repaired. The
// extents are read by the first GC pass (its result is `pass`); the
// dirty-file records, few, are read here.
Status CacheSet::check_index_contents(Status pass) {
    const auto refuse = [&](const std::string& why) {
        // fsck takes every device of the set, as separate arguments.
        std::string fsck_devices;
        for (const auto& d : core_->devices)
            if (d) fsck_devices += (fsck_devices.empty() ? "" : " ") + d->path();
        return make_error(Errc::corrupt, fmt::format("index {} of {} {} fails its checks ({}); run "
                                                     "`bcachefs-lite-ctl fsck {} --index {}`",
                                                     index_dir_, core_->devices.size() > 1 ? "cache set" : "cache",
                                                     core_->cache_name(), why, fsck_devices, index_dir_));
    };
    if (!pass) {
        if (pass.error().code == Errc::corrupt) return refuse(pass.error().message);
        return pass;
    }
    if (const std::uint64_t n = gc_->job().last_pass().undecodable; n != 0)
        return refuse(fmt::format("{} extent {} not decode", n, n == 1 ? "entry does" : "entries do"));
    for (std::uint64_t from = 0;;) {
        auto next = core_->index->next_dirty_file(from);
        if (!next) {
            if (next.error().code == Errc::corrupt) return refuse(next.error().message);
            return next.error();
        }
        if (!next.value() || next.value()->first == UINT64_MAX) return ok();
        from = next.value()->first + 1;
    }
}

CacheSet::~CacheSet() {
    if (auto st = close(); !st) core_->log.error("closing the cache: {}", st.error().message);
}

Status CacheSet::close() {
    if (closed_) return ok();
    closed_ = true;
    core_->closing.store(true, std::memory_order_release);
    stop_running();
    Status result = core_->flush_devices();
    if (core_->index) result = close_index(std::move(result));
    if (core_->root_fd >= 0) ::close(core_->root_fd);
    core_->root_fd = -1;
    return result;
}

// Stops what runs: allocation waiters return, the strand drains to a stop,
// and the open buckets are closed.
void CacheSet::stop_running() {
    if (core_->background && !core_->background->manual() && core_->background->running()) {
        std::promise<void> cancelled;
        boost::asio::post(core_->background->strand(), [this, &cancelled] {
            if (gc_) gc_->cancel_timer();
            if (link_timer_) link_timer_->timer.cancel();
            if (writeback_) writeback_->cancel_timers();
            cancelled.set_value();
        });
        cancelled.get_future().wait();
    } else {
        if (gc_) gc_->cancel_timer();
        if (link_timer_) link_timer_->timer.cancel();
        if (writeback_) writeback_->cancel_timers();
    }
    if (core_->alloc) core_->alloc->shutdown();
    if (core_->background) core_->background->stop();
    if (pins_) pins_->drop_pin_jobs();
    if (core_->sectors) core_->sectors->close_all();
    if (core_->replica_sectors) core_->replica_sectors->close_all();
}

// After the devices were flushed (`result`): what the next mount starts
// from, and the clean-shutdown mark of a cache that closes in service.
Status CacheSet::close_index(Status result) {
    if (core_->alloc && result) {
        // Every bucket's gen and prio, so that the LRU order survives a
        // restart (gens only ever move forward; the device was flushed).
        // A bucket still waiting for reuse gets its new gen: the old data
        // it serves now is not served after the restart.
        if (auto st = persist_all_prios(); !st) result = st.error();
        // Only a cache that closes clean may start from the snapshot.
        if (result && core_->in_service()) {
            if (auto st = gc_->take_snapshot(); !st)
                core_->log.warn("cache {}: saving the GC marks: {}; the next mount walks the index first",
                                core_->cache_name(), st.error().message);
        }
    }
    if (result) {
        if (auto st = core_->index->sync(); !st) result = st.error();
    }
    // A cache taken out of service was not flushed
    // (CacheCore::flush_devices()): the next open treats it as after a
    // crash, dropping its clean data and keeping the dirty.
    if (result && core_->in_service()) {
        if (auto st = core_->index->set_clean_shutdown(true); !st) result = st.error();
        if (result) {
            if (auto st = gc_->write_snapshot(index_dir_); !st)
                core_->log.warn("cache {}: saving the GC marks: {}; the next mount walks the index first",
                                core_->cache_name(), st.error().message);
        }
    } else if (result && core_->devices.size() != 0) {
        core_->log.warn("cache {} was out of service: the next mount starts it cold, keeping only its dirty data",
                        core_->cache_name());
    }
    // A device out of service is not written to, not even its superblock.
    if (result && core_->in_service()) {
        if (auto st = clear_dirty_flags(); !st) result = st.error();
    }
    return result;
}

// After a clean close: no dirty-file record left means no dirty data left
// (every file with dirty extents has one), so the superblocks may say so.
Status CacheSet::clear_dirty_flags() {
    auto next = core_->index->next_dirty_file(0);
    if (!next) return next.error();
    if (next.value()) return ok();
    for (auto& flags : core_->sb_flags) BCL_TRY(flags->clear(kSbFlagDirty));
    return ok();
}

Status CacheSet::persist_all_prios() {
    constexpr std::size_t kChunk = 65536;
    for (unsigned d = 0; d < core_->alloc->ndevices(); ++d) {
        const CacheAllocator& ca = core_->alloc->device(d);
        const Geometry& g = ca.geometry();
        std::vector<BucketGenRecord> records;
        records.reserve(std::min<std::uint64_t>(kChunk, g.nbuckets));
        for (std::uint64_t b = g.first_bucket; b < g.nbuckets; ++b) {
            const BucketInfo info = ca.bucket(b);
            records.push_back(BucketGenRecord{b, info.gen, info.prio});
            if (records.size() == kChunk || b + 1 == g.nbuckets) {
                BCL_TRY(core_->index->put_bucket_gens(d, records));
                records.clear();
            }
        }
    }
    return ok();
}

void CacheSet::schedule_link_check() {
    // Manual mode runs no timer for ever: tests call backing_link().check().
    if (core_->background->manual() || core_->closing.load(std::memory_order_acquire)) return;
    link_timer_->timer.expires_after(kLinkCheckInterval);
    link_timer_->timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec || core_->closing.load(std::memory_order_acquire)) return;
        core_->backing_link.check(CoherencyWindow::now_ns());
        schedule_link_check();
    });
}

void CacheSet::request_gc() { core_->gc_requests->request(); }
Status CacheSet::run_gc() { return gc_->run(); }

void CacheSet::device_failed(unsigned dev, const Error& error) {
    // Before open has made the writeback part's task, open starts the
    // evacuation itself.
    if (bcl::device_failed(*core_, dev, error) && writeback_ && !core_->closing.load(std::memory_order_acquire))
        boost::asio::post(core_->background->strand(), [this] { writeback_->start_evacuation(); });
}
unsigned CacheSet::gc_threads() const { return gc_->job().threads(); }

Result<std::size_t> CacheSet::read(CachedFile& file, BackingSource& backing, std::uint64_t offset,
                                   std::span<std::byte> out, ReadFlags flags) {
    return data_path_->read(file, backing, offset, out, flags);
}
Result<std::shared_ptr<CachedFile>> CacheSet::open_offline_file(const struct statx& stx) {
    return data_path_->open_offline_file(stx);
}
Result<std::size_t> CacheSet::write(CachedFile& file, int fd, std::uint64_t offset, std::span<const std::byte> data,
                                    WriteFlags flags) {
    return data_path_->write(file, fd, offset, data, flags);
}
Result<std::size_t> CacheSet::write_backing(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end,
                                            const std::function<Result<std::size_t>()>& write) {
    return data_path_->write_backing(file, fd, start, end, write);
}
Status CacheSet::truncate(CachedFile* file, int fd, std::uint64_t size) { return data_path_->truncate(file, fd, size); }
Status CacheSet::fallocate(CachedFile& file, int fd, int mode, std::uint64_t offset, std::uint64_t length) {
    return data_path_->fallocate(file, fd, mode, offset, length);
}

WritebackStatus CacheSet::writeback_status() const { return writeback_->status(); }
void CacheSet::start_flush() { writeback_->start_flush(); }
Status CacheSet::write_back_all() { return writeback_->write_back_all(); }
Status CacheSet::write_back_range(CachedFile& file, int fd, std::uint64_t start, std::uint64_t end) {
    return writeback_->write_back_range(file, fd, start, end);
}
Status CacheSet::fsync(CachedFile&, int fd, bool datasync) { return writeback_->fsync(fd, datasync); }

const CoherencyWindow& CacheSet::coherency_window() const { return core_->window; }
BackingLink& CacheSet::backing_link() { return core_->backing_link; }
CacheState CacheSet::state() const { return core_->state.load(std::memory_order_acquire); }
const Superblock& CacheSet::superblock() const { return core_->devices[0]->superblock(); }
CacheDevice& CacheSet::device(unsigned dev) { return *core_->devices[dev]; }
Index& CacheSet::index() { return *core_->index; }
AllocSet& CacheSet::alloc() { return *core_->alloc; }

std::size_t CacheSet::run_background_until_idle() {
    // With a thread the work runs there; polling as well would race it.
    if (core_->background->running()) return 0;
    return core_->background->run_until_idle();
}

CacheStats CacheSet::stats() const {
    CacheStats s = stats_of(*core_);
    if (writeback_) s.writeback_rate = writeback_->rate();
    return s;
}

Result<PriorityStats> CacheSet::priority_stats() const { return bcl::priority_stats(*core_->alloc, std::nullopt); }

Result<std::vector<DeviceStatus>> CacheSet::device_status() const { return device_status_of(*core_); }

Result<ConsistencyReport> CacheSet::check_consistency() const {
    return bcl::check_consistency(*core_->index, *core_->alloc);
}

Result<std::shared_ptr<CachedFile>> CacheSet::open_file(int fd, const struct statx& stx) {
    if (core_->closing.load(std::memory_order_acquire)) return make_error(Errc::shutdown, "the cache is closing");
    auto opened = core_->files->open(stx, fd);
    // A pinned file not fully cached (after a restart, a change behind the
    // cache's back, a fetch cut short) is fetched again.
    if (opened && core_->in_service()) pins_->resume_pin_fetch(opened.value(), fd);
    return opened;
}

Result<std::shared_ptr<CachedFile>> CacheSet::open_checked_file(const struct statx& stx, std::int64_t checked_ns) {
    if (core_->closing.load(std::memory_order_acquire)) return make_error(Errc::shutdown, "the cache is closing");
    if (!core_->window.holds(checked_ns)) return std::shared_ptr<CachedFile>();
    return core_->files->open_if_current(stx, checked_ns);
}

void CacheSet::release_file(const std::shared_ptr<CachedFile>& file) {
    if (file) core_->files->release(file);
}

void CacheSet::unlinked(std::uint64_t dev, std::uint64_t ino, std::uint64_t links_left) {
    if (links_left != 0) return;
    auto acquired = core_->files->acquire(dev, ino);
    if (!acquired) {
        core_->log.error("dropping the cached data of an unlinked file: {}", acquired.error().message);
        return;
    }
    FileRef file(*core_->files, std::move(acquired).value());
    std::unique_lock<std::mutex> wl;
    if (file) {
        wl = std::unique_lock(file->write_lock);
        // Open elsewhere (more opens than this one): the data lives on.
        if (core_->files->opens(*file) > 1) {
            if (auto st = writeback_->write_back_orphan_locked(*file); !st)
                core_->log.error(
                    "writing back the dirty data of a file unlinked while open: {}; its handles read the "
                    "backing file without it",
                    st.error().message);
        }
    }
    auto dropped = core_->files->unlinked(dev, ino, file.get());
    if (dropped) {
        core_->add_dirty(-static_cast<std::int64_t>(dropped.value()));
        core_->gc_requests->note_change();
    } else {
        core_->log.error("dropping the cached data of an unlinked file: {}", dropped.error().message);
    }
}

Result<bool> CacheSet::metadata_changed(const struct statx& before, const struct statx& after) {
    if (core_->closing.load(std::memory_order_acquire)) return false;
    return core_->files->metadata_changed(before, after);
}

Result<std::uint64_t> CacheSet::cached_bytes(std::uint64_t dev, std::uint64_t ino) {
    return core_->file_bytes(dev, ino, [this](const Extent& e) {
        for (unsigned i = 0; i < e.value.nptrs(); ++i) {
            const ExtentPtr p = e.value.ptr(i);
            if (p.device < core_->alloc->ndevices() && !core_->alloc->device(p.device).ptr_stale(p.bucket, p.gen))
                return true;
        }
        return false;
    });
}

Result<std::uint64_t> CacheSet::dirty_bytes(std::uint64_t dev, std::uint64_t ino) {
    return core_->file_bytes(dev, ino, [](const Extent& e) { return e.value.dirty(); });
}

}  // namespace bcl
