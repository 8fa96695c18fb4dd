// CacheSet: taking a failing cache device out of service (cache_state.h).
//
// Each CacheDevice counts its own errors (device/io_error_counter.h) and
// calls device_failed() when a failed request takes the count to the limit,
// on whatever thread made the request and with whatever locks it holds: so
// device_failed() only flips the state, logs and posts the rest to the
// strand. From the moment the state leaves running, the read path reads
// only dirty data from the cache device, inserts and dirty writes stop
// (every write goes to the backing file, invalidating what it covers), and
// the device is no longer flushed before the index becomes durable.
//
// On the strand, Writeback::start_evacuation() has the writeback task make
// one pass over every file with dirty data, from the first file id on, at
// full speed and whatever the writeback tunables say, skipping the dirty
// extents the device cannot read (they stay dirty). No new dirty data
// arrives once the state has changed, so when the pass reaches the last
// file, everything readable has been written back: the state moves to
// passthrough, and a log line says how much dirty data could not be read
// (writeback/evacuation.cc).
//
// In a cache set of several devices, any device that fails takes the whole
// set out of service as above, and is no longer read for any extent that
// has a copy on a device still working (CacheCore::device_usable() and
// read_extent()): dirty data written with replicas=2 is read and written
// back from its other copy, so none of it is lost with one device.
// Only a copy that exists nowhere else is still tried on the failed device,
// as a set of one device does.
//
// A set mounted degraded starts this way: each missing member gets a
// stand-in (CacheDevice::missing) and counts as failed before anything
// runs, so the set opens failing and open starts the evacuation. Its
// stand-in is never read (CacheCore::device_present()), so dirty data
// whose only copy is on it stays dirty and reads of it fail with EIO.
//
// Cache device errors (cache_state.h): each CacheDevice counts its requests and
// errors with bcache's decay; when the count reaches io_error_limit the set is
// out of service for good: reads take only dirty data from the cache, nothing
// is inserted or cached dirty, writes go to the backing files, and the
// writeback task writes back what dirty data it can still read before the state
// becomes passthrough.
#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <algorithm>

#include "bcachefs_lite/cache/cache_set.h"
#include "core/core.h"
#include "writeback/writeback.h"

namespace bcl {

IoErrorTunables CacheSet::io_error_tunables() const { return core_->devices[0]->io_errors().tunables(); }

void CacheSet::set_io_error_tunables(const IoErrorTunables& tunables) {
    for (auto& d : core_->devices) d->io_errors().set_tunables(tunables);
}

Status CacheSet::stand_in_missing_members() {
    const auto present =
        std::find_if(core_->devices.begin(), core_->devices.end(), [](const auto& d) { return d != nullptr; });
    for (unsigned d = 0; d < core_->devices.size(); ++d) {
        if (core_->devices[d]) continue;
        // Every bucket that ever held data had its gen persisted before it
        // was handed out: the last one stored bounds what extents point at.
        auto gens = core_->index->load_bucket_gens(d);
        if (!gens) return gens.error();
        std::uint64_t nbuckets = (*present)->first_bucket() + 1;
        for (const BucketGenRecord& g : gens.value()) nbuckets = std::max(nbuckets, g.bucket + 1);
        core_->devices[d] = CacheDevice::missing((*present)->superblock(), d, nbuckets);
        core_->failed_devices.fetch_or(1u << d, std::memory_order_acq_rel);
        core_->state.store(CacheState::failing, std::memory_order_release);
        core_->log.error(
            "cache set {}: device {} is missing (mounted degraded); the set is out of service: the dirty "
            "data the other devices hold is written back, and everything else goes to the backing files",
            uuid_to_string((*present)->superblock().set_id()), d);
    }
    return ok();
}

void CacheSet::device_failed(unsigned dev, const Error& error) {
    // Whichever device fails, it is never read again; with replicated dirty
    // data the copies on the others are what evacuation writes back.
    const std::uint32_t before = core_->failed_devices.fetch_or(1u << dev, std::memory_order_acq_rel);
    if ((before & (1u << dev)) == 0 && core_->devices.size() > 1)
        core_->log.error(
            "cache device {} (device {} of the cache set) failed: it is read no more where another device "
            "holds a copy",
            core_->devices[dev]->path(), dev);
    CacheState expected = CacheState::running;
    if (!core_->state.compare_exchange_strong(expected, CacheState::failing, std::memory_order_acq_rel)) return;
    const CacheDevice& d = *core_->devices[dev];
    core_->log.error(
        "cache device {}: {} I/O errors reach io_error_limit {} (last: {}); the cache is out of service: "
        "its dirty data is written back and everything else goes to the backing files",
        d.path(), d.io_errors().errors(), d.io_errors().tunables().io_error_limit, error.message);
    // Before open has made the writeback task, open posts this itself.
    if (writeback_ && !core_->closing.load(std::memory_order_acquire))
        boost::asio::post(core_->background->strand(), [this] { writeback_->start_evacuation(); });
}

}  // namespace bcl
