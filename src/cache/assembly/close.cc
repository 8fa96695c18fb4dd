// CacheSetParts::close() and its steps: stop what runs, flush the devices,
// then the index's last writes, which make the next mount start warm.
#include "assembly/parts.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <algorithm>
#include <future>
#include <vector>

#include "devices/superblock_flags.h"

namespace bcl {

Status CacheSetParts::close() {
    if (closed_) return ok();
    closed_ = true;
    core->closing.store(true, std::memory_order_release);
    stop_running();
    Status result = core->flush_devices();
    if (core->index) result = close_index(std::move(result));
    if (core->root_fd >= 0) ::close(core->root_fd);
    core->root_fd = -1;
    return result;
}

// Stops what runs: allocation waiters return, the strands drain to a stop,
// and the open buckets are closed.
void CacheSetParts::stop_running() {
    if (core->background && !core->background->manual() && core->background->running()) {
        // Each timer is cancelled on the strand it runs on.
        std::promise<void> set_cancelled;
        std::promise<void> backing_cancelled;
        boost::asio::post(core->background->strand(), [this, &set_cancelled] {
            if (gc) gc->cancel_timer();
            if (link_timer_) link_timer_->cancel();
            set_cancelled.set_value();
        });
        boost::asio::post(core->background->backing_strand(), [this, &backing_cancelled] {
            if (writeback) writeback->cancel_timers();
            backing_cancelled.set_value();
        });
        set_cancelled.get_future().wait();
        backing_cancelled.get_future().wait();
    } else {
        if (gc) gc->cancel_timer();
        if (link_timer_) link_timer_->cancel();
        if (writeback) writeback->cancel_timers();
    }
    if (core->alloc) core->alloc->shutdown();
    if (core->background) core->background->stop();
    if (pins) pins->drop_pin_jobs();
    if (core->sectors) core->sectors->close_all();
    if (core->replica_sectors) core->replica_sectors->close_all();
}

// After the devices were flushed (`result`): what the next mount starts
// from, and the clean-shutdown mark of a cache that closes in service.
Status CacheSetParts::close_index(Status result) {
    if (core->alloc && result) {
        // Every bucket's gen and prio, so that the LRU order survives a
        // restart (gens only ever move forward; the device was flushed).
        // A bucket still waiting for reuse gets its new gen: the old data
        // it serves now is not served after the restart.
        if (auto st = persist_all_prios(); !st) result = st.error();
        // Only a cache that closes clean may start from the snapshot.
        if (result && core->in_service()) {
            if (auto st = gc->take_snapshot(); !st)
                core->log.warn("cache {}: saving the GC marks: {}; the next mount walks the index first",
                               core->cache_name(), st.error().message);
        }
    }
    if (result) {
        if (auto st = core->index->sync(); !st) result = st.error();
    }
    // A cache taken out of service was not flushed
    // (CacheCore::flush_devices()): the next open treats it as after a
    // crash, dropping its clean data and keeping the dirty.
    if (result && core->in_service()) {
        if (auto st = core->index->set_clean_shutdown(true); !st) result = st.error();
        if (result) {
            if (auto st = gc->write_snapshot(index_dir); !st)
                core->log.warn("cache {}: saving the GC marks: {}; the next mount walks the index first",
                               core->cache_name(), st.error().message);
        }
    } else if (result && core->devices.size() != 0) {
        core->log.warn("cache {} was out of service: the next mount starts it cold, keeping only its dirty data",
                       core->cache_name());
    }
    // A device out of service is not written to, not even its superblock.
    if (result && core->in_service()) {
        if (auto st = clear_dirty_flags(); !st) result = st.error();
    }
    return result;
}

// After a clean close: no dirty-file record left means no dirty data left
// (every file with dirty extents has one), so the superblocks may say so.
Status CacheSetParts::clear_dirty_flags() {
    auto next = core->index->next_dirty_file(0);
    if (!next) return next.error();
    if (next.value()) return ok();
    for (auto& flags : core->sb_flags) BCL_TRY(flags->clear(kSbFlagDirty));
    return ok();
}

Status CacheSetParts::persist_all_prios() {
    constexpr std::size_t kChunk = 65536;
    for (unsigned d = 0; d < core->alloc->ndevices(); ++d) {
        const CacheAllocator& ca = core->alloc->device(d);
        const Geometry& g = ca.geometry();
        std::vector<BucketGenRecord> records;
        records.reserve(std::min<std::uint64_t>(kChunk, g.nbuckets));
        for (std::uint64_t b = g.first_bucket; b < g.nbuckets; ++b) {
            const BucketInfo info = ca.bucket(b);
            records.push_back(BucketGenRecord{b, info.gen, info.prio});
            if (records.size() == kChunk || b + 1 == g.nbuckets) {
                BCL_TRY(core->index->put_bucket_gens(d, records));
                records.clear();
            }
        }
    }
    return ok();
}

}  // namespace bcl
