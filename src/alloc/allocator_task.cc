// CacheAllocator, background: the allocator task (bch_allocator_thread) as
// bounded steps on a strand, and the start/stop of the allocator.
#include <boost/asio/post.hpp>
#include <cassert>
#include <vector>

#include "bcachefs_lite/alloc/cache_allocator.h"

namespace bcl {

// Shared between the allocator and the step handlers it queued, so that a
// handler that runs (or is dropped) after the allocator is gone is harmless.
struct CacheAllocator::TaskState {
    std::mutex step_mutex;                     // held while a step runs
    CacheAllocator* owner = nullptr;           // guarded by step_mutex; null once shut down
    std::atomic<bool> stopped{false};          // set before owner is cleared; read without lock
    std::atomic<std::int64_t> outstanding{0};  // handlers posted and not yet destroyed
};

// The handler posted by wake(). Counts itself in TaskState::outstanding from
// construction to destruction, whether it runs or is dropped.
class CacheAllocator::StepHandler {
public:
    explicit StepHandler(std::shared_ptr<TaskState> state) : state_(std::move(state)) {
        state_->outstanding.fetch_add(1, std::memory_order_relaxed);
    }
    StepHandler(StepHandler&& other) noexcept : state_(std::move(other.state_)) {}
    StepHandler& operator=(StepHandler&&) = delete;
    StepHandler(const StepHandler&) = delete;
    ~StepHandler() {
        if (state_) state_->outstanding.fetch_sub(1, std::memory_order_acq_rel);
    }

    void operator()() {
        std::lock_guard g(state_->step_mutex);
        if (state_->owner != nullptr) state_->owner->run_step();
    }

private:
    std::shared_ptr<TaskState> state_;
};

Result<std::unique_ptr<CacheAllocator>> CacheAllocator::create(unsigned dev, const Geometry& geometry,
                                                               GenStore& gen_store,
                                                               boost::asio::any_io_executor executor,
                                                               AllocatorOptions options) {
    BCL_TRY(BucketTable::validate(geometry));
    return std::unique_ptr<CacheAllocator>(
        new CacheAllocator(dev, geometry, gen_store, std::move(executor), std::move(options)));
}

CacheAllocator::CacheAllocator(unsigned dev, const Geometry& geometry, GenStore& gen_store,
                               boost::asio::any_io_executor executor, AllocatorOptions options)
    : dev_(dev),
      geometry_(geometry),
      sizes_(freelist_sizes(geometry)),
      gen_store_(gen_store),
      discard_(std::move(options.discard)),
      wake_gc_(std::move(options.wake_gc)),
      strand_(boost::asio::make_strand(std::move(executor))),
      table_(geometry),
      free_inc_(sizes_.free_inc),
      free_{Fifo<std::uint64_t>(options.movinggc_reserve ? sizes_.free : 0), Fifo<std::uint64_t>(sizes_.free)},
      invalidator_(sizes_.heap, options.replacement, options.random_seed),
      task_(std::make_shared<TaskState>()) {
    task_->owner = this;
}

CacheAllocator::~CacheAllocator() { shutdown(); }

void CacheAllocator::wake() {
    if (step_queued_.load(std::memory_order_relaxed)) return;
    if (task_->stopped.load(std::memory_order_acquire)) return;
    if (step_queued_.exchange(true, std::memory_order_acq_rel)) return;
    boost::asio::post(strand_, StepHandler(task_));
}

void CacheAllocator::shutdown() {
    {
        std::lock_guard lk(bucket_lock_);
        stopping_ = true;
    }
    bucket_wait_.notify_all();
    task_->stopped.store(true, std::memory_order_release);
    std::lock_guard g(task_->step_mutex);  // waits for a running step
    task_->owner = nullptr;
}

std::int64_t CacheAllocator::handlers_outstanding() const { return task_->outstanding.load(std::memory_order_acquire); }

void CacheAllocator::run_step() {
    // From here on a wake() queues a new step: whatever this one does not
    // see will be seen by that one.
    step_queued_.store(false, std::memory_order_release);
    if (step()) wake();
}

bool CacheAllocator::step() {
    std::unique_lock lk(bucket_lock_);
    if (stopping_) return false;
    ++stats_.steps;
    if (free_inc_.empty()) free_inc_durable_ = false;

    if (free_inc_durable_) return drain_locked(lk);
    const bool can_invalidate = table_.gc_mark_valid() && !invalidate_needs_gc_;
    if (free_inc_.empty() || (!free_inc_.full() && can_invalidate)) {
        if (!can_invalidate) return false;  // gc_finish() will wake us
        return invalidate_locked(lk);
    }
    return persist_locked(lk);
}

bool CacheAllocator::freelists_full_locked() const {
    for (const auto& f : free_)
        if (!f.full()) return false;
    return true;
}

// bch_allocator_push: the reserves fill in order, free[movinggc] first. One
// departure: once free[movinggc] is full, the new bucket joins it and its
// oldest moves on to free[none]. A bucket waiting for reuse still serves its
// old data (alloc_types.h); without the rotation the reserve would hold the
// same few buckets of the coldest data for as long as moving GC leaves it
// alone, capacity lost to everything else. With it every bucket passes
// through the reserve in invalidation order and is handed out in that order,
// and the reserve stays full.
bool CacheAllocator::push_free_locked(std::uint64_t bucket) {
    auto& reserve = free_[static_cast<std::size_t>(Reserve::movinggc)];
    auto& none = free_[static_cast<std::size_t>(Reserve::none)];
    if (reserve.push(bucket)) return true;
    if (none.full()) return false;
    const auto oldest = reserve.pop();  // none when no reserve is kept
    if (!oldest) return none.push(bucket);
    // Both have room: none had, and the pop made room in the reserve.
    return none.push(*oldest) && reserve.push(bucket);
}

bool CacheAllocator::drain_locked(std::unique_lock<std::mutex>& lk) {
    bool pushed = false;
    // Only this step adds to free[], so room seen here is still there after
    // a discard done without the lock.
    while (!free_inc_.empty() && !freelists_full_locked()) {
        const std::uint64_t b = *free_inc_.pop();
        if (discard_) {
            // The discard drops the old data: stop serving it first. A read
            // in flight re-checks after it and falls back.
            table_.end_old_reads(b);
            lk.unlock();
            const Status st = discard_(b);
            lk.lock();
            ++stats_.discards;
            if (!st) ++stats_.discard_failures;
        }
        [[maybe_unused]] const bool fitted = push_free_locked(b);
        assert(fitted);
        pushed = true;
        if (stopping_) break;
    }
    const bool more = free_inc_.empty() && !stopping_;  // next: invalidate
    lk.unlock();
    if (pushed) bucket_wait_.notify_all();
    return more;
}

bool CacheAllocator::invalidate_locked(std::unique_lock<std::mutex>& lk) {
    const std::size_t before = free_inc_.size();
    const Invalidator::Outcome outcome = invalidator_.invalidate(table_, free_inc_);
    stats_.invalidated += free_inc_.size() - before;
    bool call_gc = false;
    if (outcome == Invalidator::Outcome::exhausted) {
        // Scanning again before GC has run would find nothing new.
        invalidate_needs_gc_ = true;
        call_gc = static_cast<bool>(wake_gc_);
        if (call_gc) ++stats_.gc_wakeups;
    }
    const bool more = !free_inc_.empty();  // next: persist
    lk.unlock();
    if (call_gc) wake_gc_();
    return more;
}

bool CacheAllocator::persist_locked(std::unique_lock<std::mutex>& lk) {
    std::vector<BucketGenPrio> batch;
    batch.reserve(free_inc_.size());
    for (std::size_t i = 0; i < free_inc_.size(); ++i) {
        const std::uint64_t b = free_inc_.at(i);
        batch.push_back(BucketGenPrio{b, table_[b].gen, table_.prio(b)});
    }
    // free_inc is left alone while unlocked: only steps change it, and the
    // buckets on it are pinned, so nothing else touches their gens.
    lk.unlock();
    const Status st = gen_store_.persist(dev_, batch);
    lk.lock();
    if (!st) {
        ++stats_.persist_failures;
        return false;  // the batch stays; the next wake() retries it
    }
    ++stats_.persists;
    free_inc_durable_ = true;
    return !stopping_;  // next: drain
}

}  // namespace bcl
