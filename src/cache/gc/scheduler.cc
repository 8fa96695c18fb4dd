#include "gc/scheduler.h"

#include <boost/asio/post.hpp>
#include <future>

#include "bcachefs_lite/util/aligned_buffer.h"
#include "bcachefs_lite/util/crc32c.h"

namespace bcl {

GcScheduler::GcScheduler(CacheCore& core, std::chrono::milliseconds interval, std::size_t batch, unsigned threads,
                         const MovingGcTunables& moving)
    : core_(core), interval_(interval) {
    GcOptions options;
    options.batch = batch;
    options.threads = threads;
    options.verify_dirty = [this](const Extent& e) { return dirty_data_intact(e); };
    job_ = std::make_unique<GcJob>(*core.index, *core.alloc, core.counters, core.gc_requests->countdown(), core.log,
                                   std::move(options));
    moving_ = std::make_unique<MovingGc>(core, batch, moving);
}

GcScheduler::~GcScheduler() = default;

Result<bool> GcScheduler::restore_snapshot(const std::string& index_dir, std::uint64_t sequence_at_open,
                                           bool opened_clean) {
    auto taken = take_gc_snapshot_file(index_dir);
    if (!taken && taken.error().code != Errc::corrupt) return taken.error();
    if (taken && !taken.value()) return false;
    Status st = taken ? Status(ok()) : Status(taken.error());
    if (st && !opened_clean) st = make_error(Errc::stale, "GC snapshot: the cache was not closed cleanly");
    if (st && taken.value()->sequence != sequence_at_open)
        st = make_error(Errc::stale, "GC snapshot: the index was written after it was made");
    if (st) st = job_->restore(*taken.value());
    if (!st) {
        core_.log.info("cache {}: {}; walking the index instead", core_.cache_name(), st.error().message);
        return false;
    }
    return true;
}

Status GcScheduler::take_snapshot() {
    if (job_->running()) BCL_TRY(job_->run_pass());
    BCL_TRY(job_->run_pass());
    snapshot_ = std::make_unique<GcSnapshot>(job_->snapshot());
    return ok();
}

Status GcScheduler::write_snapshot(const std::string& index_dir) {
    if (!snapshot_) return ok();
    snapshot_->sequence = core_.index->sequence();
    return save_gc_snapshot_file(index_dir, *snapshot_);
}

void GcScheduler::start_timer() {
    timer_ = std::make_unique<boost::asio::steady_timer>(core_.background->strand());
    schedule_timer();
}

void GcScheduler::cancel_timer() {
    if (timer_) timer_->cancel();
}

void GcScheduler::schedule_timer() {
    if (interval_.count() <= 0 || core_.closing.load(std::memory_order_acquire)) return;
    timer_->expires_after(interval_);
    timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec || core_.closing.load(std::memory_order_acquire)) return;
        core_.gc_requests->request();
        schedule_timer();
    });
}

// One GC step on the strand; posts the next while the pass goes on.
void GcScheduler::step() {
    GcRequests& requests = *core_.gc_requests;
    requests.begin_step();
    if (core_.closing.load(std::memory_order_acquire)) return;
    if (!job_->running()) {
        if (!requests.take_request()) return;
        job_->start();
    }
    auto more = job_->step();
    if (!more) {
        core_.log.error("GC: {}", more.error().message);
        return;
    }
    if (!more.value()) moving_->after_pass();
    if (more.value() || requests.requested()) requests.requeue();
}

Status GcScheduler::run() {
    if (core_.background->manual() || !core_.background->running()) {
        if (job_->running()) BCL_TRY(job_->run_pass());
        BCL_TRY(job_->run_pass());
        // Its steps run with the background work (run_background_until_idle()).
        moving_->after_pass();
        return ok();
    }
    std::promise<Status> done;
    boost::asio::post(core_.background->strand(), [this, &done] {
        if (core_.closing.load(std::memory_order_acquire)) {
            done.set_value(make_error(Errc::shutdown, "the cache is closing"));
            return;
        }
        Status st = ok();
        if (job_->running()) st = job_->run_pass();
        if (st) st = job_->run_pass();
        if (st) moving_->after_pass();
        done.set_value(std::move(st));
    });
    return done.get_future().get();
}

// The whole checksummed range of each copy is read back (it stays on the
// device while the bucket's gen matches). A copy that cannot be read is
// taken as intact: a failing device is not proof that the data never
// arrived. Every copy of an acknowledged write was written before it was
// acknowledged, so one torn copy means a write that never was.
bool GcScheduler::dirty_data_intact(const Extent& e) {
    const ExtentValue& v = e.value;
    if (!v.crc_valid()) return true;
    for (unsigned i = 0; i < v.nptrs(); ++i) {
        const ExtentPtr p = v.ptr(i);
        if (!core_.device_present(p.device)) continue;
        CacheDevice& dev = *core_.devices[p.device];
        if (p.bucket < dev.first_bucket() || p.bucket >= dev.nbuckets()) continue;
        const std::uint64_t start = v.crc_device_offset(i);
        const std::uint64_t bucket_start = dev.offset_of(p.bucket);
        if (start < bucket_start || start + v.crc_length > bucket_start + dev.bucket_size() ||
            start % core_.block_size != 0 || v.crc_length % core_.block_size != 0)
            return false;
        AlignedBuffer buf(v.crc_length);
        if (!dev.read_bucket(p.bucket, static_cast<std::uint32_t>((start - bucket_start) / kSectorSize), buf.span()))
            continue;
        if (crc32c(0, buf.span()) != v.data_crc) return false;
    }
    return true;
}

}  // namespace bcl
