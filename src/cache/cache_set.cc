// CacheSet: open, close and assembly; GC scheduling on the strand.
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
#include "devices/open.h"
#include "devices/private_files.h"
#include "devices/superblock_flags.h"
#include "files/file_handle.h"
#include "files/file_table.h"
#include "gc/bucket_count.h"
#include "gc/countdown.h"
#include "gc/gc.h"
#include "gc/moving_gc.h"
#include "gc/snapshot.h"
#include "index_gen_store.h"
#include "pin/fetch.h"
#include "writeback/task.h"

namespace bcl {

struct CacheSet::Timer {
    explicit Timer(Background& bg) : timer(bg.strand()) {}
    boost::asio::steady_timer timer;
};

namespace {

// GC runs each time this fraction of the cache has been written (bcache: 16).
constexpr std::uint64_t kGcWriteFraction = 16;
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
    : log_(log),
      gc_interval_(options.gc_interval),
      gc_batch_(options.gc_batch),
      gc_threads_(options.gc_threads),
      hooks_(std::move(options.hooks)),
      sequential_(std::make_unique<SequentialDetector>()),
      congestion_(std::make_unique<CongestionMeter>()),
      bypass_(options.tunables.bypass),
      copy_gc_enabled_(options.tunables.moving_gc.copy_gc_enabled),
      mode_(options.tunables.mode),
      tunables_(options.tunables.writeback),
      pin_limit_percent_(options.tunables.pin_limit_percent),
      window_(options.tunables.actimeo),
      pin_fetch_step_bytes_(options.pin_fetch_step_bytes ? options.pin_fetch_step_bytes : 1) {
    backing_link_.set_timeout(options.tunables.backing_timeout);
}

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
    set->devices_ = std::move(opened.value().devices);
    const bool created_device = opened.value().created;

    bool created_index = false;
    Status st = set->assemble(options, created_index);
    if (!st) {
        // Undo what this open created, so a refused open changes nothing.
        const std::string index_dir = set->index_dir_;
        set->closed_ = true;
        set->closing_ = true;
        if (set->background_) set->background_->stop();
        if (set->alloc_) set->alloc_->shutdown();
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
        **std::find_if(devices_.begin(), devices_.end(), [](const auto& d) { return d->present(); });
    log_.debug("cache {} open: {} buckets of {} bytes, index {}", cache_name(), dev.nbuckets() - dev.first_bucket(),
               dev.bucket_size(), index_dir_);
    return ok();
}

Status CacheSet::open_backing_root(const CacheSetOptions& options) {
    if (options.backing_root_fd >= 0) {
        // open_by_handle_at() refuses O_PATH descriptors: open it for real.
        const std::string proc = fmt::format("/proc/self/fd/{}", options.backing_root_fd);
        root_fd_ = ::open(proc.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd_ < 0) return sys_error(errno, "the backing directory");
        struct stat st;
        if (::fstat(root_fd_, &st) != 0) return sys_error(errno, "stat of the backing directory");
        root_dev_ = st.st_dev;
        auto handles = check_file_handles(root_fd_);
        writeback_possible_ = static_cast<bool>(handles);
        if (!handles) writeback_unavailable_ = handles.error().message;
    } else {
        writeback_unavailable_ = "the backing directory was not given to the cache";
    }
    caller_identities_ = options.caller_identities;
    if (caller_identities_) {
        writeback_possible_ = false;
        writeback_unavailable_ =
            "this mount recognises files by path (identity=path) and writeback finds them by "
            "file handle; mount with identity=inode";
    }
    if (options.tunables.mode == CacheMode::writeback && !writeback_possible_)
        return make_error(Errc::unsupported, fmt::format("mode=writeback: {}", writeback_unavailable_));
    return ok();
}

Status CacheSet::open_index(CacheSetOptions& options, bool& created_index) {
    // Missing members (degraded) have no device until the index is open.
    CacheDevice& dev = **std::find_if(devices_.begin(), devices_.end(), [](const auto& d) { return d != nullptr; });
    const Superblock& sb = dev.superblock();
    block_size_ = sb.block_size;
    index_dir_ = options.index_dir.value_or(std::string(kDefaultIndexRoot) + "/" + uuid_to_string(sb.set_id()));

    std::error_code ec;
    created_index = !std::filesystem::exists(index_dir_, ec);
    auto have_index = Index::exists(index_dir_);
    if (!have_index) return have_index.error();
    // A new index is made private; an existing one must be so already.
    if (have_index.value() && options.require_private_files) BCL_TRY(check_private_index(index_dir_));
    if (!have_index.value()) BCL_TRY(start_without_index(devices_, cache_name(), index_dir_, log_));
    IndexOptions io;
    io.create_if_missing = true;
    io.cache_uuid = sb.set_id();
    // Rule 2 of index_format.h: whatever the index is about to make durable
    // may point at cache data; that data becomes durable first.
    io.before_durable = [this] { return flush_devices(); };
    auto index = Index::open(index_dir_, io);
    if (!index) {
        if (index.error().code == Errc::foreign)
            return make_error(Errc::foreign,
                              fmt::format("{}; give this cache its own index= directory", index.error().message));
        return index.error();
    }
    index_ = std::move(index).value();
    // Before the first index write, which flushes the devices first.
    BCL_TRY(stand_in_missing_members());
    for (unsigned d = 0; d < devices_.size(); ++d) {
        devices_[d]->io_errors().set_tunables(options.tunables.io_errors);
        devices_[d]->on_error_limit([this, d](const Error& e) { device_failed(d, e); });
    }
    for (auto& d : devices_) sb_flags_.push_back(std::make_unique<SuperblockFlags>(d->device(), d->superblock()));

    sequence_at_open_ = index_->sequence();  // before this open writes anything
    auto clean = index_->clean_shutdown();
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
    BCL_TRY(index_->begin_mount(mount));

    return ok();
}

Status CacheSet::build_allocators(CacheSetOptions& options) {
    gen_store_ = std::make_unique<IndexGenStore>(*index_, devices_);
    background_ = std::make_unique<Background>(options.manual_background);

    std::vector<CacheDeviceConfig> configs;
    for (auto& d : devices_) {
        CacheDeviceConfig c;
        c.geometry = Geometry{d->nbuckets(), d->first_bucket(), d->bucket_sectors(), d->block_sectors()};
        c.options.replacement = options.replacement.value_or(d->superblock().replacement);
        if (d->present() && options.discard.value_or(d->superblock().discard())) {
            CacheDevice* raw = d.get();
            c.options.discard = [raw](std::uint64_t bucket) { return raw->discard_bucket(bucket); };
        }
        c.options.wake_gc = [this] { allocator_wants_gc(); };
        // Moving GC allocates from free[movinggc] (write_prio), so that it
        // can copy data out even when foreground writes took every other
        // free bucket.
        c.options.movinggc_reserve = true;
        configs.push_back(std::move(c));
    }
    auto alloc = AllocSet::create(configs, *gen_store_, background_->executor());
    if (!alloc) return alloc.error();
    alloc_ = std::move(alloc).value();

    for (unsigned d = 0; d < devices_.size(); ++d) {
        auto gens = index_->load_bucket_gens(d);
        if (!gens) return gens.error();
        std::vector<BucketGenPrio> loaded;
        loaded.reserve(gens.value().size());
        for (const BucketGenRecord& g : gens.value()) loaded.push_back(BucketGenPrio{g.bucket, g.gen, g.prio});
        BCL_TRY(alloc_->device(d).load(loaded));
        // A missing member's buckets keep their gens: nothing is allocated
        // there, so its allocator never invalidates, persists or discards.
        if (!devices_[d]->present()) alloc_->device(d).shutdown();
    }
    sectors_ = std::make_unique<SectorAllocator>(*alloc_);
    replicas_ = options.replicas;
    if (replicas_ > 1) dirty_sectors_ = std::make_unique<SectorAllocator>(*alloc_, replicas_);
    files_ = std::make_unique<FileTable>(*index_, log_, [this] { request_gc(); });
    std::uint64_t data_sectors = 0;
    for (unsigned d = 0; d < alloc_->ndevices(); ++d) {
        const Geometry& g = alloc_->device(d).geometry();
        data_sectors += (g.nbuckets - g.first_bucket) * g.bucket_sectors;
    }
    capacity_bytes_ = data_sectors * kSectorSize;
    promotion_ =
        std::make_unique<PromotionPolicy>(options.tunables.promotion, miss_table_slots(capacity_bytes_ / block_size_));
    gc_countdown_ = std::make_unique<GcCountdown>(data_sectors / kGcWriteFraction);
    GcOptions gc_options;
    gc_options.batch = gc_batch_;
    gc_options.threads = gc_threads_;
    gc_options.verify_dirty = [this](const Extent& e) { return dirty_data_intact(e); };
    gc_ = std::make_unique<GcJob>(*index_, *alloc_, counters_, *gc_countdown_, log_, std::move(gc_options));
    moving_gc_ = std::make_unique<MovingGcRound>();

    return ok();
}

Status CacheSet::start_serving() {
    // The first GC pass makes the allocator's marks valid; after a clean
    // close they come from the snapshot that close saved, so that the cache
    // serves at once however many extents it holds. After an unclean
    // shutdown the pass drops every clean extent (see the header).
    auto restored = restore_gc_snapshot();
    if (!restored) return restored.error();
    opened_from_gc_snapshot_ = restored.value();
    if (auto st = check_index_contents(restored.value() ? ok() : gc_->run_pass(!opened_clean_)); !st) {
        // The pass deleted at most stale extents, which point at nothing:
        // the index is as clean as it was, and a repaired one need not
        // start cold.
        if (opened_clean_) (void)index_->set_clean_shutdown(true);
        return st;
    }
    if (gc_->last_pass().dropped != 0)
        log_.warn("cache {} was not shut down cleanly: {} clean cached extents dropped", cache_name(),
                  gc_->last_pass().dropped);
    dirty_bytes_.store(static_cast<std::int64_t>(gc_->last_pass().dirty_bytes), std::memory_order_release);
    if (dirty_bytes() != 0) dirty_seen_.store(true, std::memory_order_release);
    if (dirty_bytes() != 0 && !writeback_possible_)
        return make_error(Errc::unsupported,
                          fmt::format("cache {} holds {} bytes of dirty data that cannot be written back: {}",
                                      cache_name(), dirty_bytes(), writeback_unavailable_));
    // Fill the freelists before the first read needs them.
    background_->run_until_idle();
    gc_timer_ = std::make_unique<Timer>(*background_);
    schedule_gc_timer();
    link_timer_ = std::make_unique<Timer>(*background_);
    schedule_link_check();
    pin_fetch_ = std::make_unique<PinFetch>();
    writeback_ = std::make_unique<WritebackTask>(*background_, tunables_.writeback_rate_minimum);
    schedule_rate_update();
    // The device failed during the first GC pass.
    if (!in_service()) boost::asio::post(background_->strand(), [this] { start_evacuation(); });
    // Dirty data an earlier mount left resumes after the delay.
    if (dirty_bytes() != 0)
        writeback_kick(std::chrono::duration_cast<std::chrono::milliseconds>(tunables_.writeback_delay));
    for (unsigned d = 0; d < devices_.size(); ++d)
        if (devices_[d]->present()) BCL_TRY(sb_flags_[d]->set(kSbFlagIndexed));
    // Pinned files come back into the cache without waiting to be opened.
    queue_pin_resume();
    background_->start();
    return ok();
}

// An index whose entries do not decode is refused at open: serving from it
// could return wrong data, and fsck can tell what may be repaired. The
// extents are read by the first GC pass (its result is `pass`); the
// dirty-file records, few, are read here.
std::string CacheSet::cache_name() const {
    std::string name;
    for (const auto& d : devices_)
        if (d) name += (name.empty() ? "" : ":") + d->path();
    return name;
}

Status CacheSet::check_index_contents(Status pass) {
    const auto refuse = [&](const std::string& why) {
        // fsck takes every device of the set, as separate arguments.
        std::string fsck_devices;
        for (const auto& d : devices_)
            if (d) fsck_devices += (fsck_devices.empty() ? "" : " ") + d->path();
        return make_error(Errc::corrupt, fmt::format("index {} of {} {} fails its checks ({}); run "
                                                     "`bcachefs-lite-ctl fsck {} --index {}`",
                                                     index_dir_, devices_.size() > 1 ? "cache set" : "cache",
                                                     cache_name(), why, fsck_devices, index_dir_));
    };
    if (!pass) {
        if (pass.error().code == Errc::corrupt) return refuse(pass.error().message);
        return pass;
    }
    if (const std::uint64_t n = gc_->last_pass().undecodable; n != 0)
        return refuse(fmt::format("{} extent {} not decode", n, n == 1 ? "entry does" : "entries do"));
    for (std::uint64_t from = 0;;) {
        auto next = index_->next_dirty_file(from);
        if (!next) {
            if (next.error().code == Errc::corrupt) return refuse(next.error().message);
            return next.error();
        }
        if (!next.value() || next.value()->first == UINT64_MAX) return ok();
        from = next.value()->first + 1;
    }
}

CacheSet::~CacheSet() {
    if (auto st = close(); !st) log_.error("closing the cache: {}", st.error().message);
}

Status CacheSet::close() {
    if (closed_) return ok();
    closed_ = true;
    closing_.store(true, std::memory_order_release);
    stop_running();
    Status result = flush_devices();
    if (index_) result = close_index(std::move(result));
    if (root_fd_ >= 0) ::close(root_fd_);
    root_fd_ = -1;
    return result;
}

// Stops what runs: allocation waiters return, the strand drains to a stop,
// and the open buckets are closed.
void CacheSet::stop_running() {
    if (background_ && !background_->manual() && background_->running()) {
        std::promise<void> cancelled;
        boost::asio::post(background_->strand(), [this, &cancelled] {
            if (gc_timer_) gc_timer_->timer.cancel();
            if (link_timer_) link_timer_->timer.cancel();
            cancel_writeback_timers();
            cancelled.set_value();
        });
        cancelled.get_future().wait();
    } else {
        if (gc_timer_) gc_timer_->timer.cancel();
        if (link_timer_) link_timer_->timer.cancel();
        cancel_writeback_timers();
    }
    if (alloc_) alloc_->shutdown();
    if (background_) background_->stop();
    drop_pin_jobs();
    if (sectors_) sectors_->close_all();
    if (dirty_sectors_) dirty_sectors_->close_all();
}

// After the devices were flushed (`result`): what the next mount starts
// from, and the clean-shutdown mark of a cache that closes in service.
Status CacheSet::close_index(Status result) {
    if (alloc_ && result) {
        // Every bucket's gen and prio, so that the LRU order survives a
        // restart (gens only ever move forward; the device was flushed).
        // A bucket still waiting for reuse gets its new gen: the old data
        // it serves now is not served after the restart.
        if (auto st = persist_all_prios(); !st) result = st.error();
        // Only a cache that closes clean may start from the snapshot.
        if (result && in_service()) {
            if (auto st = save_gc_snapshot(); !st)
                log_.warn("cache {}: saving the GC marks: {}; the next mount walks the index first", cache_name(),
                          st.error().message);
        }
    }
    if (result) {
        if (auto st = index_->sync(); !st) result = st.error();
    }
    // A cache taken out of service was not flushed (flush_devices()): the
    // next open treats it as after a crash, dropping its clean data and
    // keeping the dirty.
    if (result && in_service()) {
        if (auto st = index_->set_clean_shutdown(true); !st) result = st.error();
        if (result && gc_snapshot_) {
            gc_snapshot_->sequence = index_->sequence();
            if (auto st = save_gc_snapshot_file(index_dir_, *gc_snapshot_); !st)
                log_.warn("cache {}: saving the GC marks: {}; the next mount walks the index first", cache_name(),
                          st.error().message);
        }
    } else if (result && devices_.size() != 0) {
        log_.warn("cache {} was out of service: the next mount starts it cold, keeping only its dirty data",
                  cache_name());
    }
    // A device out of service is not written to, not even its superblock.
    if (result && in_service()) {
        if (auto st = clear_dirty_flags(); !st) result = st.error();
    }
    return result;
}

Result<bool> CacheSet::restore_gc_snapshot() {
    auto taken = take_gc_snapshot_file(index_dir_);
    if (!taken && taken.error().code != Errc::corrupt) return taken.error();
    if (taken && !taken.value()) return false;
    Status st = taken ? Status(ok()) : Status(taken.error());
    if (st && !opened_clean_) st = make_error(Errc::stale, "GC snapshot: the cache was not closed cleanly");
    if (st && taken.value()->sequence != sequence_at_open_)
        st = make_error(Errc::stale, "GC snapshot: the index was written after it was made");
    if (st) st = gc_->restore(*taken.value());
    if (!st) {
        log_.info("cache {}: {}; walking the index instead", cache_name(), st.error().message);
        return false;
    }
    return true;
}

// A last full pass, with nothing else running, makes the marks exact; the
// file goes after the close's last index write.
Status CacheSet::save_gc_snapshot() {
    if (gc_->running()) BCL_TRY(gc_->run_pass());
    BCL_TRY(gc_->run_pass());
    gc_snapshot_ = std::make_unique<GcSnapshot>(gc_->snapshot());
    return ok();
}

// After a clean close: no dirty-file record left means no dirty data left
// (every file with dirty extents has one), so the superblocks may say so.
Status CacheSet::clear_dirty_flags() {
    auto next = index_->next_dirty_file(0);
    if (!next) return next.error();
    if (next.value()) return ok();
    for (auto& flags : sb_flags_) BCL_TRY(flags->clear(kSbFlagDirty));
    return ok();
}

// The whole checksummed range of each copy is read back (it stays on the
// device while the bucket's gen matches). A copy that cannot be read is
// taken as intact: a failing device is not proof that the data never
// arrived. Every copy of an acknowledged write was written before it was
// acknowledged, so one torn copy means a write that never was.
bool CacheSet::dirty_data_intact(const Extent& e) {
    const ExtentValue& v = e.value;
    if (!v.crc_valid()) return true;
    for (unsigned i = 0; i < v.nptrs(); ++i) {
        const ExtentPtr p = v.ptr(i);
        if (!device_present(p.device)) continue;
        CacheDevice& dev = *devices_[p.device];
        if (p.bucket < dev.first_bucket() || p.bucket >= dev.nbuckets()) continue;
        const std::uint64_t start = v.crc_device_offset(i);
        const std::uint64_t bucket_start = dev.offset_of(p.bucket);
        if (start < bucket_start || start + v.crc_length > bucket_start + dev.bucket_size() ||
            start % block_size_ != 0 || v.crc_length % block_size_ != 0)
            return false;
        AlignedBuffer buf(v.crc_length);
        if (!dev.read_bucket(p.bucket, static_cast<std::uint32_t>((start - bucket_start) / kSectorSize), buf.span()))
            continue;
        if (crc32c(0, buf.span()) != v.data_crc) return false;
    }
    return true;
}

Status CacheSet::flush_devices() {
    // Out of service nothing new reaches the cache device, and a failing
    // device must not keep the index from becoming durable.
    if (!in_service()) return ok();
    Status result = ok();
    for (auto& d : devices_) {
        if (auto st = d->flush(); !st && result) result = st.error();
    }
    return result;
}

Status CacheSet::persist_all_prios() {
    constexpr std::size_t kChunk = 65536;
    for (unsigned d = 0; d < alloc_->ndevices(); ++d) {
        const CacheAllocator& ca = alloc_->device(d);
        const Geometry& g = ca.geometry();
        std::vector<BucketGenRecord> records;
        records.reserve(std::min<std::uint64_t>(kChunk, g.nbuckets));
        for (std::uint64_t b = g.first_bucket; b < g.nbuckets; ++b) {
            const BucketInfo info = ca.bucket(b);
            records.push_back(BucketGenRecord{b, info.gen, info.prio});
            if (records.size() == kChunk || b + 1 == g.nbuckets) {
                BCL_TRY(index_->put_bucket_gens(d, records));
                records.clear();
            }
        }
    }
    return ok();
}

void CacheSet::schedule_gc_timer() {
    if (gc_interval_.count() <= 0 || closing_.load(std::memory_order_acquire)) return;
    gc_timer_->timer.expires_after(gc_interval_);
    gc_timer_->timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec || closing_.load(std::memory_order_acquire)) return;
        request_gc();
        schedule_gc_timer();
    });
}

void CacheSet::schedule_link_check() {
    // Manual mode runs no timer for ever: tests call backing_link().check().
    if (background_->manual() || closing_.load(std::memory_order_acquire)) return;
    link_timer_->timer.expires_after(kLinkCheckInterval);
    link_timer_->timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec || closing_.load(std::memory_order_acquire)) return;
        backing_link_.check(CoherencyWindow::now_ns());
        schedule_link_check();
    });
}

// When GC runs. A pass is requested, never run, from where the need is
// found: the timer, the allocator's wake_gc (nothing left to invalidate),
// and count_cache_write(). Like bcache's sectors_to_gc, every sector the
// cache writes (miss inserts; any later kind of cache write must count
// too) counts down from 1/kGcWriteFraction of the cache's data sectors,
// and the write that takes the countdown below zero requests a pass; the
// countdown starts again when a pass starts. So GC keeps pace with a cache
// that fills and refills, instead of waiting for the timer or for the
// allocator to run dry. Requests only set gc_requested_ and post one
// gc_kick to the strand unless one is queued (gc_queued_): foreground
// threads never run GC, and never queue more than one kick.
void CacheSet::count_cache_write(std::uint64_t sectors) {
    if (gc_countdown_->consume(sectors) || allocator_starved_.exchange(false, std::memory_order_acq_rel)) request_gc();
}

// The allocator found nothing to invalidate. A pass helps only if something
// changed since the last one started (gc/countdown.h); if nothing did, the
// next change asks for it (note_gc_change()).
void CacheSet::allocator_wants_gc() {
    if (gc_countdown_->changed()) {
        request_gc();
    } else {
        allocator_starved_.store(true, std::memory_order_release);
        // A change may have come between the two checks.
        if (gc_countdown_->changed() && allocator_starved_.exchange(false, std::memory_order_acq_rel)) request_gc();
    }
}

void CacheSet::note_gc_change() {
    gc_countdown_->note_change();
    if (allocator_starved_.exchange(false, std::memory_order_acq_rel)) request_gc();
}

void CacheSet::request_gc() {
    gc_requested_.store(true, std::memory_order_release);
    if (closing_.load(std::memory_order_acquire) || gc_queued_.exchange(true, std::memory_order_acq_rel)) return;
    boost::asio::post(background_->strand(), [this] { gc_kick(); });
}

// One GC step on the strand; posts the next while the pass goes on.
void CacheSet::gc_kick() {
    gc_queued_.store(false, std::memory_order_release);
    if (closing_.load(std::memory_order_acquire)) return;
    if (!gc_->running()) {
        if (!gc_requested_.exchange(false, std::memory_order_acq_rel)) return;
        gc_->start();
    }
    auto more = gc_->step();
    if (!more) {
        log_.error("GC: {}", more.error().message);
        return;
    }
    if (!more.value()) moving_gc_after_pass();
    if (more.value() || gc_requested_.load(std::memory_order_acquire)) {
        if (!gc_queued_.exchange(true, std::memory_order_acq_rel))
            boost::asio::post(background_->strand(), [this] { gc_kick(); });
    }
}

unsigned CacheSet::gc_threads() const { return gc_->threads(); }

Status CacheSet::run_gc() {
    if (background_->manual() || !background_->running()) {
        if (gc_->running()) BCL_TRY(gc_->run_pass());
        BCL_TRY(gc_->run_pass());
        // Its steps run with the background work (run_background_until_idle()).
        moving_gc_after_pass();
        return ok();
    }
    std::promise<Status> done;
    boost::asio::post(background_->strand(), [this, &done] {
        if (closing_.load(std::memory_order_acquire)) {
            done.set_value(make_error(Errc::shutdown, "the cache is closing"));
            return;
        }
        Status st = ok();
        if (gc_->running()) st = gc_->run_pass();
        if (st) st = gc_->run_pass();
        if (st) moving_gc_after_pass();
        done.set_value(std::move(st));
    });
    return done.get_future().get();
}

std::size_t CacheSet::run_background_until_idle() {
    // With a thread the work runs there; polling as well would race it.
    if (background_->running()) return 0;
    return background_->run_until_idle();
}

CacheStats CacheSet::stats() const {
    CacheStats s = counters_.snapshot();
    if (const auto count = count_buckets(*alloc_)) {
        s.buckets_total = count->total;
        s.buckets_free = count->free;
    }
    s.dirty_data = dirty_bytes();
    for (const auto& d : devices_) s.io_errors += d->io_errors().errors();
    s.backing_offline = backing_link_.down() ? 1 : 0;
    if (writeback_) {
        std::lock_guard lk(tunables_mutex_);
        s.writeback_rate = writeback_->rate.rate();
    }
    return s;
}

Result<ConsistencyReport> CacheSet::check_consistency() const { return bcl::check_consistency(*index_, *alloc_); }

Result<std::shared_ptr<CachedFile>> CacheSet::open_file(int fd, const struct statx& stx) {
    if (closing_.load(std::memory_order_acquire)) return make_error(Errc::shutdown, "the cache is closing");
    auto opened = files_->open(stx, fd);
    // A pinned file not fully cached (after a restart, a change behind the
    // cache's back, a fetch cut short) is fetched again.
    if (opened && in_service()) resume_pin_fetch(opened.value(), fd);
    return opened;
}

Result<std::shared_ptr<CachedFile>> CacheSet::open_checked_file(const struct statx& stx, std::int64_t checked_ns) {
    if (closing_.load(std::memory_order_acquire)) return make_error(Errc::shutdown, "the cache is closing");
    if (!window_.holds(checked_ns)) return std::shared_ptr<CachedFile>();
    return files_->open_if_current(stx, checked_ns);
}

void CacheSet::release_file(const std::shared_ptr<CachedFile>& file) {
    if (file) files_->release(file);
}

void CacheSet::unlinked(std::uint64_t dev, std::uint64_t ino, std::uint64_t links_left) {
    if (links_left != 0) return;
    auto acquired = files_->acquire(dev, ino);
    if (!acquired) {
        log_.error("dropping the cached data of an unlinked file: {}", acquired.error().message);
        return;
    }
    FileRef file(*files_, std::move(acquired).value());
    std::unique_lock<std::mutex> wl;
    if (file) {
        wl = std::unique_lock(file->write_lock);
        // Open elsewhere (more opens than this one): the data lives on.
        if (files_->opens(*file) > 1) {
            if (auto st = write_back_orphan_locked(*file); !st)
                log_.error(
                    "writing back the dirty data of a file unlinked while open: {}; its handles read the "
                    "backing file without it",
                    st.error().message);
        }
    }
    auto dropped = files_->unlinked(dev, ino, file.get());
    if (dropped) {
        add_dirty(-static_cast<std::int64_t>(dropped.value()));
        note_gc_change();
    } else {
        log_.error("dropping the cached data of an unlinked file: {}", dropped.error().message);
    }
}

Result<bool> CacheSet::metadata_changed(const struct statx& before, const struct statx& after) {
    if (closing_.load(std::memory_order_acquire)) return false;
    return files_->metadata_changed(before, after);
}

Result<std::uint64_t> CacheSet::file_bytes(std::uint64_t dev, std::uint64_t ino,
                                           const std::function<bool(const Extent&)>& counts) {
    auto found = files_->id_and_size(dev, ino);
    if (!found) return found.error();
    if (!found.value()) return 0;
    const auto [id, size] = *found.value();
    if (id == 0 || size == 0) return 0;
    auto extents = index_->lookup(id, 0, size);
    if (!extents) return extents.error();
    std::uint64_t bytes = 0;
    for (const Extent& e : extents.value())
        if (counts(e)) bytes += std::min(e.end(), size) - e.start();
    return bytes;
}

Result<std::uint64_t> CacheSet::cached_bytes(std::uint64_t dev, std::uint64_t ino) {
    return file_bytes(dev, ino, [this](const Extent& e) {
        for (unsigned i = 0; i < e.value.nptrs(); ++i) {
            const ExtentPtr p = e.value.ptr(i);
            if (p.device < alloc_->ndevices() && !alloc_->device(p.device).ptr_stale(p.bucket, p.gen)) return true;
        }
        return false;
    });
}

Result<std::uint64_t> CacheSet::dirty_bytes(std::uint64_t dev, std::uint64_t ino) {
    return file_bytes(dev, ino, [](const Extent& e) { return e.value.dirty(); });
}

}  // namespace bcl
