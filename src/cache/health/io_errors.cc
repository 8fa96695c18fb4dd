// Taking a failing cache device out of service (cache_state.h).
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

#include <algorithm>

#include "health/io_errors.h"

namespace bcl {

IoErrorTunables io_error_tunables(const CacheCore& core) { return core.devices[0]->io_errors().tunables(); }

void set_io_error_tunables(CacheCore& core, const IoErrorTunables& tunables) {
    for (auto& d : core.devices) d->io_errors().set_tunables(tunables);
}

Status stand_in_missing_members(CacheCore& core) {
    const auto present =
        std::find_if(core.devices.begin(), core.devices.end(), [](const auto& d) { return d != nullptr; });
    for (unsigned d = 0; d < core.devices.size(); ++d) {
        if (core.devices[d]) continue;
        // Every bucket that ever held data had its gen persisted before it
        // was handed out: the last one stored bounds what extents point at.
        auto gens = core.index->load_bucket_gens(d);
        if (!gens) return gens.error();
        std::uint64_t nbuckets = (*present)->first_bucket() + 1;
        for (const BucketGenRecord& g : gens.value()) nbuckets = std::max(nbuckets, g.bucket + 1);
        core.devices[d] = CacheDevice::missing((*present)->superblock(), d, nbuckets);
        core.failed_devices.fetch_or(1u << d, std::memory_order_acq_rel);
        core.state.store(CacheState::failing, std::memory_order_release);
        core.log.error(
            "cache set {}: device {} is missing (mounted degraded); the set is out of service: the dirty "
            "data the other devices hold is written back, and everything else goes to the backing files",
            uuid_to_string((*present)->superblock().set_id()), d);
    }
    return ok();
}

bool device_failed(CacheCore& core, unsigned dev, const Error& error) {
    // Whichever device fails, it is never read again; with replicated dirty
    // data the copies on the others are what evacuation writes back.
    const std::uint32_t before = core.failed_devices.fetch_or(1u << dev, std::memory_order_acq_rel);
    if ((before & (1u << dev)) == 0 && core.devices.size() > 1)
        core.log.error(
            "cache device {} (device {} of the cache set) failed: it is read no more where another device "
            "holds a copy",
            core.devices[dev]->path(), dev);
    CacheState expected = CacheState::running;
    if (!core.state.compare_exchange_strong(expected, CacheState::failing, std::memory_order_acq_rel)) return false;
    const CacheDevice& d = *core.devices[dev];
    core.log.error(
        "cache device {}: {} I/O errors reach io_error_limit {} (last: {}); the cache is out of service: "
        "its dirty data is written back and everything else goes to the backing files",
        d.path(), d.io_errors().errors(), d.io_errors().tunables().io_error_limit, error.message);
    return true;
}

}  // namespace bcl
