// Micro-benchmarks of the alloc layer.
//
// alloc_free/threads:N
//   One iteration = bucket_alloc(Reserve::movinggc, wait=false) from a
//   filled freelist (free[none], then free[movinggc]) + bucket_free() +
//   put() of that bucket, by N threads on one cache device. When the
//   freelists run dry the timer is paused while the allocator task refills
//   them (invalidate, persist to a GenStore that does nothing, drain): only
//   the foreground fast path is timed. 1M buckets (1024 per freelist), fifo
//   replacement so that refills stay short; the policy does not touch the
//   fast path. items_per_second is alloc+free pairs per second, all threads
//   together (real time).
//
// lru_pass/4M
//   One Invalidator::invalidate() with the lru policy over 4M buckets of
//   512 KiB (2 TiB) with varied prios (0..65534) and live sectors (0..1024),
//   10% dirty, 1% pinned: a full scan, the heap of the 32768 cheapest, and
//   16384 buckets invalidated onto free_inc. Between iterations (timer
//   paused) the invalidated buckets get their old gen, prio and pin back.
//   Counters: bytes_per_bucket (the whole allocator: bucket table, free
//   lists, free_inc, heap) and sizeof_bucket.
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "bcachefs_lite/alloc/bucket_table.h"
#include "bcachefs_lite/alloc/cache_allocator.h"
#include "bcachefs_lite/alloc/replacement.h"
#include "bcachefs_lite/util/fifo.h"

namespace bcl {
namespace {

class NullGenStore : public GenStore {
public:
    Status persist(unsigned, std::span<const BucketGenPrio>) override { return ok(); }
};

// One device whose freelists the benchmark threads share.
class AllocBench {
public:
    AllocBench() {
        AllocatorOptions opts;
        opts.replacement = Replacement::fifo;
        opts.wake_gc = [this] { gc_wanted_ = true; };
        allocator_ = std::move(CacheAllocator::create(0, Geometry{1u << 20, 1, 1024, 8}, store_, io_.get_executor(),
                                                      std::move(opts)))
                         .value();
        allocator_->gc_finish();
        refill();
    }
    ~AllocBench() { allocator_->shutdown(); }

    CacheAllocator& allocator() { return *allocator_; }

    // Runs the allocator task until the freelists are full again (GC when
    // the task asks for it). One thread at a time drives the io_context.
    void refill() {
        std::lock_guard lk(refill_mutex_);
        for (;;) {
            if (gc_wanted_) {
                gc_wanted_ = false;
                allocator_->gc_start();
                allocator_->gc_finish();
            }
            io_.restart();
            if (io_.poll() == 0 && !gc_wanted_) break;
        }
    }

private:
    NullGenStore store_;
    boost::asio::io_context io_;
    std::mutex refill_mutex_;
    bool gc_wanted_ = false;  // guarded by refill_mutex_ (the task runs only under it)
    std::unique_ptr<CacheAllocator> allocator_;
};

void alloc_free(benchmark::State& state, AllocBench& bench) {
    CacheAllocator& a = bench.allocator();
    for (auto _ : state) {
        auto r = a.bucket_alloc(Reserve::movinggc, false);
        // Dry: refill, untimed. With two threads the other one may empty the
        // freelists again before this one gets its bucket; try again.
        for (int tries = 0; !r && tries < 10000; ++tries) {
            state.PauseTiming();
            bench.refill();
            state.ResumeTiming();
            r = a.bucket_alloc(Reserve::movinggc, false);
        }
        if (!r) {
            state.SkipWithError("no bucket after refills");
            break;
        }
        a.bucket_free(r.value());
        a.put(r.value());
    }
    state.SetItemsProcessed(state.iterations());
}

struct LruSetup {
    static constexpr std::uint64_t kBuckets = 4u << 20;
    static constexpr Geometry kGeometry{kBuckets, 1, 1024, 8};
    BucketTable table{kGeometry};
    FreelistSizes sizes = freelist_sizes(kGeometry);
    Invalidator invalidator{sizes.heap, Replacement::lru};
    Fifo<std::uint64_t> free_inc{sizes.free_inc};
    std::vector<std::uint16_t> prio;

    LruSetup() : prio(kBuckets) {
        std::mt19937_64 rng(12345);
        std::uniform_int_distribution<int> p(0, 65534), sectors(0, 1024), kind(0, 99);
        for (std::uint64_t b = 1; b < kBuckets; ++b) {
            prio[b] = static_cast<std::uint16_t>(p(rng));
            table.set_prio(b, prio[b]);
            const int k = kind(rng);
            const GcMark mark = k < 10 ? GcMark::dirty : k == 10 ? GcMark::pinned : GcMark::reclaimable;
            table.gc_mark(b, mark, static_cast<std::uint32_t>(sectors(rng)));
        }
        table.recompute_min_prio();
        table.gc_finish();
    }

    void undo() {
        while (auto b = free_inc.pop()) {
            table.pin_put(*b);
            table[*b].gen = static_cast<std::uint8_t>(table[*b].gen - 1);
            table.set_prio(*b, prio[*b]);
        }
    }
};

void lru_pass(benchmark::State& state, LruSetup& s) {
    for (auto _ : state) {
        auto outcome = s.invalidator.invalidate(s.table, s.free_inc);
        benchmark::DoNotOptimize(outcome);
        state.PauseTiming();
        if (s.free_inc.size() != s.sizes.free_inc) state.SkipWithError("free_inc not filled");
        s.undo();
        state.ResumeTiming();
    }
    // What one device of 4M buckets costs, allocator and all.
    NullGenStore store;
    boost::asio::io_context io;
    auto a = CacheAllocator::create(0, Geometry{LruSetup::kBuckets, 1, 1024, 8}, store, io.get_executor()).value();
    state.counters["bytes_per_bucket"] =
        static_cast<double>(a->memory_bytes()) / static_cast<double>(LruSetup::kBuckets);
    state.counters["sizeof_bucket"] = sizeof(Bucket);
    state.counters["buckets"] = static_cast<double>(LruSetup::kBuckets);
}

}  // namespace
}  // namespace bcl

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    bcl::AllocBench alloc_bench;
    bcl::LruSetup lru;
    benchmark::RegisterBenchmark("alloc_free", [&](benchmark::State& s) { bcl::alloc_free(s, alloc_bench); })
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark("lru_pass/4M", [&](benchmark::State& s) {
        bcl::lru_pass(s, lru);
    })->Unit(benchmark::kMillisecond);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
