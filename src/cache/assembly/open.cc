// CacheSetParts::open() and its steps (parts.h says in what order).
//
// Life: open() assembles everything and runs the first GC (mark) pass so
// the allocator can work. A cache device whose superblock says it may
// hold dirty data (kSbFlagDirty, set before the first dirty write of a
// mount, cleared by a clean close that leaves none) is refused when its
// index is missing, since that data could no longer be found; without the
// flag a missing index only means a cold cache, and a warning when the
// device had an index before (kSbFlagIndexed). The index's clean-shutdown
// flag is false while the set is open and set back to true by a clean
// close (close.cc). After an unclean shutdown the first GC pass drops
// every clean extent: unsynced index writes may have reached the disk
// while the cache data they point to had not been flushed, and the
// backing files hold that data anyway. Dirty extents stay: their data was
// written before they were indexed, and every synced index write and
// memtable flush flushes the cache device first
// (IndexOptions::before_durable).
#include "assembly/parts.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <algorithm>
#include <ctime>
#include <filesystem>

#include "devices/open.h"
#include "devices/private_files.h"
#include "devices/superblock_flags.h"
#include "files/file_handle.h"
#include "files/file_table.h"
#include "health/io_errors.h"

namespace bcl {

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

// What a refused open removes again: the cache file and the index
// directory it created (empty: none).
struct CreatedByOpen {
    std::string cache_file;
    std::string index_dir;

    CreatedByOpen() = default;
    CreatedByOpen(const CreatedByOpen&) = delete;
    CreatedByOpen& operator=(const CreatedByOpen&) = delete;
    // The open succeeded: all stays.
    void keep() {
        cache_file.clear();
        index_dir.clear();
    }
    ~CreatedByOpen() {
        std::error_code ec;
        if (!index_dir.empty()) std::filesystem::remove_all(index_dir, ec);
        if (!cache_file.empty()) ::unlink(cache_file.c_str());
    }
};

}  // namespace

CacheSetParts::CacheSetParts(Logger& log, CacheSetOptions& options)
    : core(std::make_unique<CacheCore>(log, std::move(options.hooks), options.tunables)) {}

Result<std::unique_ptr<CacheSetParts>> CacheSetParts::open(CacheSetOptions options, Logger& log) {
    if (options.replicas < 1 || options.replicas > 2)
        return make_error(Errc::invalid, fmt::format("replicas={}: expected 1 or 2", options.replicas));
    DeviceOpenOptions open_options;
    open_options.create_size = options.create_size;
    open_options.degraded = options.degraded;
    auto opened = open_cache_devices(options.cache_paths, std::move(options.devices), open_options);
    if (!opened) return opened.error();
    // Declared before the parts, so that a refused open destroys them
    // first (~CacheSetParts stops what they started), then removes what it
    // created, and changes nothing.
    CreatedByOpen created;
    if (opened.value().created) created.cache_file = options.cache_paths[0];
    // After the open, which names a device that is no cache at all first;
    // a cache file it created is private already.
    if (options.require_private_files)
        for (const std::string& path : options.cache_paths) BCL_TRY(check_private_cache(path));
    if (options.replicas > opened.value().devices.size()) {
        const bool one = opened.value().devices.size() == 1;
        return make_error(Errc::invalid,
                          fmt::format("replicas={} needs a cache set of at least {} devices; cache {} has {}",
                                      options.replicas, options.replicas,
                                      one ? opened.value().devices[0]->path()
                                          : uuid_to_string(opened.value().devices[0]->superblock().set_id()),
                                      opened.value().devices.size()));
    }
    std::unique_ptr<CacheSetParts> parts(new CacheSetParts(log, options));
    parts->core->devices = std::move(opened.value().devices);
    BCL_TRY(parts->assemble(options, created.index_dir));
    created.keep();
    return parts;
}

CacheSetParts::~CacheSetParts() {
    // After close() nothing is left running; after a refused open the
    // allocator's waiters and the background thread are stopped before
    // the parts they use are destroyed.
    if (closed_) return;
    core->closing = true;
    if (core->background) core->background->stop();
    if (core->alloc) core->alloc->shutdown();
    if (core->root_fd >= 0) ::close(core->root_fd);
}

Status CacheSetParts::assemble(CacheSetOptions& options, std::string& created_index) {
    BCL_TRY(validate(options.tunables));
    BCL_TRY(open_backing_root(options));
    BCL_TRY(open_index(options, created_index));
    BCL_TRY(build_allocators(options));
    BCL_TRY(start_serving());
    const CacheDevice& dev =
        **std::find_if(core->devices.begin(), core->devices.end(), [](const auto& d) { return d->present(); });
    core->log.debug("cache {} open: {} buckets of {} bytes, index {}", core->cache_name(),
                    dev.nbuckets() - dev.first_bucket(), dev.bucket_size(), index_dir);
    return ok();
}

Status CacheSetParts::open_backing_root(const CacheSetOptions& options) {
    if (options.backing_root_fd >= 0) {
        // open_by_handle_at() refuses O_PATH descriptors: open it for real.
        const std::string proc = fmt::format("/proc/self/fd/{}", options.backing_root_fd);
        core->root_fd = ::open(proc.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (core->root_fd < 0) return sys_error(errno, "the backing directory");
        struct stat st;
        if (::fstat(core->root_fd, &st) != 0) return sys_error(errno, "stat of the backing directory");
        core->root_dev = st.st_dev;
        auto handles = check_file_handles(core->root_fd);
        core->writeback_possible = static_cast<bool>(handles);
        if (!handles) core->writeback_unavailable = handles.error().message;
    } else {
        core->writeback_unavailable = "the backing directory was not given to the cache";
    }
    core->caller_identities = options.caller_identities;
    if (core->caller_identities) {
        core->writeback_possible = false;
        core->writeback_unavailable =
            "this mount recognises files by path (identity=path) and writeback finds them by "
            "file handle; mount with identity=inode";
    }
    if (options.tunables.mode == CacheMode::writeback && !core->writeback_possible)
        return make_error(Errc::unsupported, fmt::format("mode=writeback: {}", core->writeback_unavailable));
    return ok();
}

Status CacheSetParts::open_index(CacheSetOptions& options, std::string& created_index) {
    // Missing members (degraded) have no device until the index is open.
    CacheDevice& dev =
        **std::find_if(core->devices.begin(), core->devices.end(), [](const auto& d) { return d != nullptr; });
    const Superblock& sb = dev.superblock();
    core->block_size = sb.block_size;
    index_dir = options.index_dir.value_or(std::string(kDefaultIndexRoot) + "/" + uuid_to_string(sb.set_id()));

    std::error_code ec;
    if (!std::filesystem::exists(index_dir, ec)) created_index = index_dir;
    auto have_index = Index::exists(index_dir);
    if (!have_index) return have_index.error();
    // A new index is made private; an existing one must be so already.
    if (have_index.value() && options.require_private_files) BCL_TRY(check_private_index(index_dir));
    if (!have_index.value()) BCL_TRY(start_without_index(core->devices, core->cache_name(), index_dir, core->log));
    IndexOptions io;
    io.create_if_missing = true;
    io.cache_uuid = sb.set_id();
    // Rule 2 of index_format.h: whatever the index is about to make durable
    // may point at cache data; that data becomes durable first.
    io.before_durable = [this] { return core->flush_devices(); };
    auto index = Index::open(index_dir, io);
    if (!index) {
        if (index.error().code == Errc::foreign)
            return make_error(Errc::foreign,
                              fmt::format("{}; give this cache its own index= directory", index.error().message));
        return index.error();
    }
    core->index = std::move(index).value();
    // Before the first index write, which flushes the devices first.
    BCL_TRY(stand_in_missing_members(*core));
    for (unsigned d = 0; d < core->devices.size(); ++d) {
        core->devices[d]->io_errors().set_tunables(options.tunables.io_errors);
        core->devices[d]->on_error_limit([this, d](const Error& e) { device_failed(d, e); });
    }
    for (auto& d : core->devices)
        core->sb_flags.push_back(std::make_unique<SuperblockFlags>(d->device(), d->superblock()));

    sequence_at_open_ = core->index->sequence();  // before this open writes anything
    auto clean = core->index->clean_shutdown();
    if (!clean) return clean.error();
    opened_clean = clean.value();
    // Rule 7 of index_format.h: cleared before the first mutation, in the
    // write that records where this mount found its devices (what
    // `bcachefs-lite-ctl index list` looks for).
    MountRecord mount{static_cast<std::uint64_t>(::time(nullptr)), {}};
    for (const auto& p : options.cache_paths) {
        auto abs = std::filesystem::absolute(p, ec);
        mount.cache_paths.push_back(ec ? p : abs.string());
    }
    BCL_TRY(core->index->begin_mount(mount));

    return ok();
}

Status CacheSetParts::build_allocators(CacheSetOptions& options) {
    core->gen_store = std::make_unique<IndexGenStore>(*core->index, core->devices);
    core->background = std::make_unique<Background>(options.manual_background);
    std::uint64_t data_sectors = 0;
    for (const auto& d : core->devices) data_sectors += (d->nbuckets() - d->first_bucket()) * d->bucket_sectors();
    core->capacity_bytes = data_sectors * kSectorSize;
    // Before the allocators, whose wake_gc asks it for passes; the steps it
    // posts run once the set serves, when gc is there.
    core->gc_requests =
        std::make_unique<GcRequests>(data_sectors, *core->background, core->closing, [this] { gc->step(); });

    std::vector<CacheDeviceConfig> configs;
    for (auto& d : core->devices) {
        CacheDeviceConfig c;
        c.geometry = Geometry{d->nbuckets(), d->first_bucket(), d->bucket_sectors(), d->block_sectors()};
        c.options.replacement = options.replacement.value_or(d->superblock().replacement);
        if (d->present() && options.discard.value_or(d->superblock().discard())) {
            CacheDevice* raw = d.get();
            c.options.discard = [raw](std::uint64_t bucket) { return raw->discard_bucket(bucket); };
        }
        c.options.wake_gc = [this] { core->gc_requests->allocator_wants_gc(); };
        // Moving GC allocates from free[movinggc] (write_prio), so that it
        // can copy data out even when foreground writes took every other
        // free bucket.
        c.options.movinggc_reserve = true;
        configs.push_back(std::move(c));
    }
    auto alloc = AllocSet::create(configs, *core->gen_store, core->background->executor());
    if (!alloc) return alloc.error();
    core->alloc = std::move(alloc).value();

    for (unsigned d = 0; d < core->devices.size(); ++d) {
        auto gens = core->index->load_bucket_gens(d);
        if (!gens) return gens.error();
        std::vector<BucketGenPrio> loaded;
        loaded.reserve(gens.value().size());
        for (const BucketGenRecord& g : gens.value()) loaded.push_back(BucketGenPrio{g.bucket, g.gen, g.prio});
        BCL_TRY(core->alloc->device(d).load(loaded));
        // A missing member's buckets keep their gens: nothing is allocated
        // there, so its allocator never invalidates, persists or discards.
        if (!core->devices[d]->present()) core->alloc->device(d).shutdown();
    }
    core->sectors = std::make_unique<SectorAllocator>(*core->alloc);
    core->replicas = options.replicas;
    if (core->replicas > 1) core->replica_sectors = std::make_unique<SectorAllocator>(*core->alloc, core->replicas);
    core->files = std::make_unique<FileTable>(*core->index, core->log, [this] { core->gc_requests->request(); });
    admission = std::make_unique<Admission>(*core, options.tunables.promotion, options.tunables.bypass);
    writeback = std::make_unique<Writeback>(*core, options.tunables.writeback);
    data_path = std::make_unique<DataPath>(*core, *admission, *writeback);
    pins = std::make_unique<Pins>(*core, options.pin_fetch_step_bytes ? options.pin_fetch_step_bytes : 1);
    gc = std::make_unique<GcScheduler>(*core, options.gc_interval, options.gc_batch, options.gc_threads,
                                       options.tunables.moving_gc);

    return ok();
}

Status CacheSetParts::start_serving() {
    // The first GC pass makes the allocator's marks valid; after a clean
    // close they come from the snapshot that close saved, so that the cache
    // serves at once however many extents it holds. After an unclean
    // shutdown the pass drops every clean extent (see the header).
    auto restored = gc->restore_snapshot(index_dir, sequence_at_open_, opened_clean);
    if (!restored) return restored.error();
    opened_from_gc_snapshot = restored.value();
    if (auto st = check_index_contents(restored.value() ? ok() : gc->job().run_pass(!opened_clean)); !st) {
        // The pass deleted at most stale extents, which point at nothing:
        // the index is as clean as it was, and a repaired one need not
        // start cold.
        if (opened_clean) (void)core->index->set_clean_shutdown(true);
        return st;
    }
    if (gc->job().last_pass().dropped != 0)
        core->log.warn("cache {} was not shut down cleanly: {} clean cached extents dropped", core->cache_name(),
                       gc->job().last_pass().dropped);
    core->dirty_counted.store(static_cast<std::int64_t>(gc->job().last_pass().dirty_bytes), std::memory_order_release);
    if (core->dirty_bytes() != 0) core->dirty_seen.store(true, std::memory_order_release);
    if (core->dirty_bytes() != 0 && !core->writeback_possible)
        return make_error(Errc::unsupported,
                          fmt::format("cache {} holds {} bytes of dirty data that cannot be written back: {}",
                                      core->cache_name(), core->dirty_bytes(), core->writeback_unavailable));
    // Fill the freelists before the first read needs them.
    core->background->run_until_idle();
    gc->start_timer();
    link_timer_ = std::make_unique<boost::asio::steady_timer>(core->background->strand());
    schedule_link_check();
    writeback->start();
    // The device failed during the first GC pass.
    if (!core->in_service())
        boost::asio::post(core->background->backing_strand(), [this] { writeback->start_evacuation(); });
    for (unsigned d = 0; d < core->devices.size(); ++d)
        if (core->devices[d]->present()) BCL_TRY(core->sb_flags[d]->set(kSbFlagIndexed));
    // Pinned files come back into the cache without waiting to be opened.
    pins->queue_pin_resume();
    core->background->start();
    return ok();
}

// An index whose entries do not decode is refused at open: serving from it
// could return wrong data, and fsck can tell what may be repaired. The
// extents are read by the first GC pass (its result is `pass`); the
// dirty-file records, few, are read here.
Status CacheSetParts::check_index_contents(Status pass) {
    const auto refuse = [&](const std::string& why) {
        // fsck takes every device of the set, as separate arguments.
        std::string fsck_devices;
        for (const auto& d : core->devices)
            if (d) fsck_devices += (fsck_devices.empty() ? "" : " ") + d->path();
        return make_error(Errc::corrupt, fmt::format("index {} of {} {} fails its checks ({}); run "
                                                     "`bcachefs-lite-ctl fsck {} --index {}`",
                                                     index_dir, core->devices.size() > 1 ? "cache set" : "cache",
                                                     core->cache_name(), why, fsck_devices, index_dir));
    };
    if (!pass) {
        if (pass.error().code == Errc::corrupt) return refuse(pass.error().message);
        return pass;
    }
    if (const std::uint64_t n = gc->job().last_pass().undecodable; n != 0)
        return refuse(fmt::format("{} extent {} not decode", n, n == 1 ? "entry does" : "entries do"));
    for (std::uint64_t from = 0;;) {
        auto next = core->index->next_dirty_file(from);
        if (!next) {
            if (next.error().code == Errc::corrupt) return refuse(next.error().message);
            return next.error();
        }
        if (!next.value() || next.value()->first == UINT64_MAX) return ok();
        from = next.value()->first + 1;
    }
}

void CacheSetParts::schedule_link_check() {
    // Manual mode runs no timer for ever: tests call backing_link().check().
    if (core->background->manual() || core->closing.load(std::memory_order_acquire)) return;
    link_timer_->expires_after(kLinkCheckInterval);
    link_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec || core->closing.load(std::memory_order_acquire)) return;
        core->backing_link.check(CoherencyWindow::now_ns());
        schedule_link_check();
    });
}

void CacheSetParts::device_failed(unsigned dev, const Error& error) {
    // Before open has made the writeback part's task, open starts the
    // evacuation itself.
    if (bcl::device_failed(*core, dev, error) && writeback && !core->closing.load(std::memory_order_acquire))
        boost::asio::post(core->background->backing_strand(), [this] { writeback->start_evacuation(); });
}

}  // namespace bcl
