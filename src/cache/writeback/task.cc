// Writeback: the task on the backing strand (background.h), its rate and
// the writeback tunables.
//
// The task is one step at a time, each armed on a timer: a step takes the
// next file (by file id, from a cursor that wraps) that has a dirty-file
// record and writes back up to a chunk of its dirty data in offset order,
// then arms the next step chunk / rate later (at once while flushing). When
// a pass over the dirty files finds none, the task goes idle; a dirty write
// into a clean cache arms it writeback_delay later, a flush or a change of
// the tunables at once. A step that fails is retried after a delay that
// doubles with each failure in a row (1 s up to 32 s); a kick (flush, a
// change of the tunables) still runs the next step at once. The rate is
// updated every kWritebackRateUpdate.
//
// After a cache device failure (health/io_errors.cc) the task makes one pass over
// every dirty file at full speed, each file whole in one step and its
// unreadable extents skipped, and the end of that pass ends the failing
// state.
#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "writeback/task.h"
#include "writeback/writeback.h"

namespace bcl {

namespace {

using Clock = std::chrono::steady_clock;

// A flush writes back this much per step.
constexpr std::uint64_t kFlushChunk = 4u << 20;
// Rate-limited steps write at most this much, and about a tenth of a
// second's worth.
constexpr std::uint64_t kMaxChunk = 1u << 20;
// Retry after an index error, and the first retry after a failed step.
constexpr std::chrono::seconds kRetryDelay{1};
// Steps that keep failing (a backing directory that is read-only, full or
// gone) are retried at twice the delay each time, up to this.
constexpr std::chrono::seconds kMaxRetryDelay{32};

std::chrono::milliseconds retry_delay(unsigned failures) {
    const unsigned doublings = std::min(failures == 0 ? 0u : failures - 1, 5u);
    return std::min<std::chrono::milliseconds>(kRetryDelay * (1u << doublings), kMaxRetryDelay);
}

}  // namespace

Writeback::Writeback(CacheCore& core, const WritebackTunables& tunables) : core_(core), tunables_(tunables) {}

Writeback::~Writeback() = default;

void Writeback::start() {
    WritebackTunables t = tunables();
    task_ = std::make_unique<WritebackTask>(*core_.background, t.writeback_rate_minimum);
    schedule_rate_update();
    if (core_.dirty_bytes() != 0) kick(std::chrono::duration_cast<std::chrono::milliseconds>(t.writeback_delay));
}

std::uint64_t Writeback::rate() const {
    std::lock_guard lk(tunables_mutex_);
    return task_ ? task_->rate.rate() : 0;
}

WritebackTunables Writeback::tunables() const {
    std::lock_guard lk(tunables_mutex_);
    return tunables_;
}

Status Writeback::set_tunables(const WritebackTunables& tunables) {
    BCL_TRY(validate(tunables));
    {
        std::lock_guard lk(tunables_mutex_);
        tunables_ = tunables;
    }
    if (core_.dirty_bytes() != 0) kick(std::chrono::milliseconds(0));
    return ok();
}

WritebackStatus Writeback::status() const {
    WritebackStatus s;
    s.dirty = core_.dirty_bytes();
    std::lock_guard lk(tunables_mutex_);
    s.target = core_.capacity_bytes / 100 * tunables_.writeback_percent;
    s.rate = task_->rate.rate();
    s.proportional = task_->rate.proportional();
    s.integral = task_->rate.integral();
    s.running = tunables_.writeback_running;
    s.flushing = flushing_.load(std::memory_order_acquire);
    return s;
}

void Writeback::start_flush() {
    flushing_.store(true, std::memory_order_release);
    kick(std::chrono::milliseconds(0));
}

void Writeback::kick(std::chrono::milliseconds delay) {
    if (core_.closing.load(std::memory_order_acquire)) return;
    boost::asio::post(core_.background->backing_strand(), [this, delay] {
        if (core_.closing.load(std::memory_order_acquire)) return;
        const Clock::time_point at = Clock::now() + delay;
        if (task_->armed && task_->step_at <= at) return;
        arm(at);
    });
}

void Writeback::arm(std::chrono::steady_clock::time_point at) {
    WritebackTask& w = *task_;
    w.armed = true;
    w.step_at = at;
    // Re-arming cancels a wait in progress: its handler sees operation_aborted.
    w.step_timer.expires_at(at);
    w.step_timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec || core_.closing.load(std::memory_order_acquire)) return;
        task_->armed = false;
        step();
    });
}

void Writeback::step() {
    WritebackTask& w = *task_;
    const bool evacuating = w.evacuating;
    if (core_.state.load(std::memory_order_acquire) == CacheState::passthrough) {
        // What is still dirty could not be read: nothing to write back.
        flushing_.store(false, std::memory_order_release);
        return;
    }
    const bool flushing = evacuating || flushing_.load(std::memory_order_acquire);
    if (!flushing && !tunables().writeback_running) return;  // idle until kicked
    // A call on the backing hangs (backing_link.h): another would only hang
    // with it. The dirty data waits; the step comes back later.
    if (core_.backing_link.hanging()) {
        arm(Clock::now() + kRetryDelay);
        return;
    }
    // Writes commit to the index before they count: a count taken before
    // the scan includes nothing the scan cannot see.
    const std::int64_t counted = core_.dirty_counted.load(std::memory_order_acquire);
    auto next = core_.index->next_dirty_file(w.cursor);
    if (!next) {
        core_.log.error("writeback: {}", next.error().message);
        arm(Clock::now() + kRetryDelay);
        return;
    }
    if (!next.value()) return pass_over(counted);
    // Named, not bound: the lambda below captures them (clang 14 cannot
    // capture a structured binding).
    const std::uint64_t id = next.value()->first;
    const DirtyFileRecord& record = next.value()->second;
    if (evacuating) return evacuate_file(id, record);
    std::uint64_t rate;
    {
        std::lock_guard lk(tunables_mutex_);
        rate = w.rate.rate();
    }
    const std::uint64_t chunk =
        flushing ? kFlushChunk : std::clamp<std::uint64_t>(rate / 10, core_.block_size, kMaxChunk);
    const Clock::time_point started = Clock::now();
    // A call in flight on the backing (backing_link.h): a step that hangs
    // past backing_timeout takes the link down, as a foreground call would.
    // A step writes a bounded chunk, so only a backing that hangs makes it
    // wait that long.
    auto result = [&] {
        const BackingLink::Call call = core_.backing_link.begin_call();
        return write_back_file(id, record, chunk);
    }();
    if (!result) {
        // Also while flushing: the data stays dirty, and retrying at once
        // would only spin on the same error.
        ++w.failures;
        const std::chrono::milliseconds delay = retry_delay(w.failures);
        core_.log.error("writeback of cache file {}: {} (retrying in {} ms)", id, result.error().message,
                        delay.count());
        w.cursor = id + 1;
        arm(Clock::now() + delay);
        return;
    }
    w.failures = 0;
    if (!result.value().more) w.cursor = id + 1;
    if (flushing) {
        arm(Clock::now());
        return;
    }
    const auto share =
        std::chrono::nanoseconds(result.value().bytes * 1'000'000'000 / std::max<std::uint64_t>(rate, 1));
    if (Clock::now() - started > share) w.keeping_up = false;
    arm(started + share);
}

// The scan found no dirty file from the cursor on.
void Writeback::pass_over(std::int64_t counted) {
    WritebackTask& w = *task_;
    // The pass started at file id 0: every dirty file had its turn.
    if (w.evacuating) return evacuation_over();
    if (w.cursor != 0) {
        w.cursor = 0;  // wrap around
        arm(Clock::now());
        return;
    }
    // Nothing dirty: the count follows the index, unless it changed since
    // the scan began (a write counted data the scan may have missed): then
    // round again. Setting it to 0 regardless lost such a write's bytes
    // from the count for good.
    if (counted != 0) {
        if (!core_.dirty_counted.compare_exchange_strong(counted, 0, std::memory_order_acq_rel)) {
            arm(Clock::now());
            return;
        }
        core_.log.warn("writeback found no dirty data where {} bytes were counted", counted);
    }
    flushing_.store(false, std::memory_order_release);
}

// The whole file at once: its unreadable extents stay dirty and would come
// first again in a step that takes only a chunk.
void Writeback::evacuate_file(std::uint64_t id, const DirtyFileRecord& record) {
    WritebackTask& w = *task_;
    auto result = write_back_file(id, record, UINT64_MAX, /*skip_unreadable=*/true);
    if (result) {
        w.unreadable += result.value().unreadable;
    } else {
        core_.log.error("writeback of cache file {}: {}", id, result.error().message);
    }
    w.cursor = id + 1;
    arm(Clock::now());
}

void Writeback::schedule_rate_update() {
    if (core_.closing.load(std::memory_order_acquire)) return;
    WritebackTask& w = *task_;
    w.rate_timer.expires_after(kWritebackRateUpdate);
    w.rate_timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec || core_.closing.load(std::memory_order_acquire)) return;
        update_rate();
        schedule_rate_update();
    });
}

void Writeback::update_rate() {
    WritebackTask& w = *task_;
    {
        std::lock_guard lk(tunables_mutex_);
        const std::uint64_t target = core_.capacity_bytes / 100 * tunables_.writeback_percent;
        w.rate.update(core_.dirty_bytes(), target, tunables_.writeback_rate_minimum, kWritebackRateUpdate,
                      w.keeping_up);
    }
    w.keeping_up = true;
}

void Writeback::cancel_timers() {
    if (!task_) return;
    task_->step_timer.cancel();
    task_->rate_timer.cancel();
}

}  // namespace bcl
