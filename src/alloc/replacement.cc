#include "bcachefs_lite/alloc/replacement.h"

namespace bcl {

Invalidator::Invalidator(std::size_t heap_capacity, Replacement policy, std::uint64_t seed)
    : policy_(policy), heap_(heap_capacity), rng_(seed) {}

Invalidator::Outcome Invalidator::invalidate(BucketTable& table, Fifo<std::uint64_t>& free_inc) {
    switch (policy_) {
    case Replacement::lru: return invalidate_lru(table, free_inc);
    case Replacement::fifo: return invalidate_fifo(table, free_inc);
    case Replacement::random: return invalidate_random(table, free_inc);
    }
    return Outcome::exhausted;
}

namespace {

void invalidate_and_push(BucketTable& table, Fifo<std::uint64_t>& free_inc, std::uint64_t b) {
    table.invalidate_one(b);
    const bool pushed = free_inc.push(b);
    (void)pushed;  // callers check free_inc.full() first
}

}  // namespace

Invalidator::Outcome Invalidator::invalidate_lru(BucketTable& table, Fifo<std::uint64_t>& free_inc) {
    // Keep the cheapest heap_capacity candidates: a max-heap whose top is the
    // dearest of those kept, replaced whenever a cheaper one turns up.
    auto max_cmp = [](HeapEntry l, HeapEntry r) { return l < r; };
    auto min_cmp = [](HeapEntry l, HeapEntry r) { return l > r; };

    heap_.clear();
    if (heap_.capacity() != 0) {
        const std::int64_t offset = table.prio_offset();
        const std::uint64_t end = table.nbuckets();
        for (std::uint64_t b = table.first_bucket(); b < end; ++b) {
            if (!table.can_invalidate(b)) continue;
            const HeapEntry e = table.bucket_prio(b, offset) << 32 | b;
            if (!heap_.full()) {
                (void)heap_.add(e, max_cmp);
            } else if (e < heap_.top()) {
                heap_.replace_top(e, max_cmp);
            }
        }
    }

    heap_.rebuild(min_cmp);
    while (!free_inc.full()) {
        auto e = heap_.pop(min_cmp);
        // Nothing left: do not scan again until GC has run.
        if (!e) return Outcome::exhausted;
        invalidate_and_push(table, free_inc, *e & 0xffffffffu);
    }
    return Outcome::filled;
}

Invalidator::Outcome Invalidator::invalidate_fifo(BucketTable& table, Fifo<std::uint64_t>& free_inc) {
    std::uint64_t checked = 0;
    while (!free_inc.full()) {
        if (fifo_last_bucket_ < table.first_bucket() || fifo_last_bucket_ >= table.nbuckets())
            fifo_last_bucket_ = table.first_bucket();
        const std::uint64_t b = fifo_last_bucket_++;
        if (table.can_invalidate(b)) invalidate_and_push(table, free_inc, b);
        if (++checked >= table.nbuckets()) return Outcome::exhausted;
    }
    return Outcome::filled;
}

Invalidator::Outcome Invalidator::invalidate_random(BucketTable& table, Fifo<std::uint64_t>& free_inc) {
    const std::uint64_t span = table.nbuckets() - table.first_bucket();
    std::uint64_t checked = 0;
    while (!free_inc.full()) {
        const std::uint64_t b = table.first_bucket() + rng_.next() % span;
        if (table.can_invalidate(b)) invalidate_and_push(table, free_inc, b);
        if (++checked >= table.nbuckets() / 2) return Outcome::exhausted;
    }
    return Outcome::filled;
}

}  // namespace bcl
