// CacheSet and sequential bypass and congestion (sequential.h): the
// questions the read and write paths ask, the device timing that feeds the
// congestion meter, and the tunables.
//
// Sequential bypass and congestion (sequential.h): a read or write that
// continues a sequential run past sequential_cutoff skips the cache. Such a
// read still serves what the cache holds, but inserts nothing; such a write
// takes the direct path below (with its write-back of partly covered dirty
// blocks) whatever the mode, and caches nothing. While the cache device's reads
// or writes are slower on average than their congestion threshold, miss inserts
// and writethrough inserts are skipped.
#include "bcachefs_lite/cache/cache_set.h"
#include "core/core.h"

namespace bcl {

bool CacheSet::sequential_bypass(std::uint64_t file_id, std::uint64_t offset, std::uint64_t length,
                                 std::uint64_t writer) {
    if (file_id == 0 || length == 0) return false;
    const std::uint64_t cutoff = bypass_tunables().sequential_cutoff;
    return sequential_->check(file_id, offset, length, writer, SeqClock::now(), cutoff);
}

bool CacheSet::sequential_write(CachedFile& file, std::uint64_t offset, std::uint64_t length, std::uint64_t writer) {
    std::uint64_t file_id;
    {
        std::lock_guard lk(file.mutex);
        if (file.bypass) return false;
        file_id = file.record.file_id;
    }
    return sequential_bypass(file_id, offset, length, writer);
}

bool CacheSet::insert_congested() {
    if (!congestion_->congested(bypass_tunables(), SeqClock::now())) return false;
    core_->counters.congested_skips.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void CacheSet::device_io_done(CacheIo kind, SeqClock::time_point start) {
    const SeqClock::time_point now = SeqClock::now();
    congestion_->record(kind, std::chrono::duration_cast<std::chrono::microseconds>(now - start), now);
}

BypassTunables CacheSet::bypass_tunables() const {
    std::lock_guard lk(bypass_mutex_);
    return bypass_;
}

Status CacheSet::set_bypass_tunables(const BypassTunables& tunables) {
    BCL_TRY(validate(tunables));
    std::lock_guard lk(bypass_mutex_);
    bypass_ = tunables;
    return ok();
}

}  // namespace bcl
