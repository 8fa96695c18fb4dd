// Test doubles and utilities for the alloc tests: a GenStore that records,
// holds back or fails persists, and a manual executor that the test drives.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "bcachefs_lite/alloc/cache_allocator.h"
#include "bcachefs_lite/alloc/gen_store.h"

namespace bcl::test {

inline constexpr auto kTimeout = std::chrono::seconds(20);

// Records every persisted batch. hold() makes persist() block until
// release(); fail_next(n) makes the next n persists fail.
class FakeGenStore : public GenStore {
public:
    Status persist(unsigned dev, std::span<const BucketGenPrio> buckets) override {
        std::unique_lock lk(mutex_);
        ++entered_;
        cv_.notify_all();
        cv_.wait(lk, [&] { return !held_; });
        if (fail_next_ > 0) {
            --fail_next_;
            ++failed_;
            return make_error(Errc::io, "injected persist failure");
        }
        batches_.emplace_back(dev, std::vector<BucketGenPrio>(buckets.begin(), buckets.end()));
        for (const BucketGenPrio& b : buckets) durable_[{dev, b.bucket}] = b.gen;
        return ok();
    }

    void hold() {
        std::lock_guard lk(mutex_);
        held_ = true;
    }
    void release() {
        std::lock_guard lk(mutex_);
        held_ = false;
        cv_.notify_all();
    }
    void fail_next(int n) {
        std::lock_guard lk(mutex_);
        fail_next_ = n;
    }
    // Waits (bounded) until persist() has been entered n times in all.
    bool wait_entered(int n) {
        std::unique_lock lk(mutex_);
        return cv_.wait_for(lk, kTimeout, [&] { return entered_ >= n; });
    }
    std::size_t batches() const {
        std::lock_guard lk(mutex_);
        return batches_.size();
    }
    std::vector<BucketGenPrio> batch(std::size_t i) const {
        std::lock_guard lk(mutex_);
        return batches_.at(i).second;
    }
    int failed() const {
        std::lock_guard lk(mutex_);
        return failed_;
    }
    std::optional<std::uint8_t> durable_gen(unsigned dev, std::uint64_t bucket) const {
        std::lock_guard lk(mutex_);
        auto it = durable_.find({dev, bucket});
        if (it == durable_.end()) return std::nullopt;
        return it->second;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool held_ = false;
    int fail_next_ = 0;
    int failed_ = 0;
    int entered_ = 0;
    std::vector<std::pair<unsigned, std::vector<BucketGenPrio>>> batches_;
    std::map<std::pair<unsigned, std::uint64_t>, std::uint8_t> durable_;
};

// An io_context that no thread runs: the test runs what is queued.
class ManualExecutor {
public:
    boost::asio::any_io_executor executor() { return io_.get_executor(); }
    boost::asio::io_context& io() { return io_; }
    // Runs handlers until none is ready; returns how many ran.
    std::size_t run_until_idle() {
        std::size_t total = 0;
        for (;;) {
            io_.restart();
            const std::size_t n = io_.poll();
            if (n == 0) return total;
            total += n;
        }
    }
    // Runs at most one ready handler.
    std::size_t run_one() {
        io_.restart();
        return io_.poll_one();
    }

private:
    boost::asio::io_context io_;
};

// Spins (yielding, never sleeping) until pred() holds or the timeout passes.
inline bool eventually(const std::function<bool()>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

// 64 buckets of 16 sectors, data from bucket 2, blocks of 2 sectors: free 4,
// free_inc 16, lru heap 32.
inline Geometry small_geometry(std::uint64_t nbuckets = 64) { return Geometry{nbuckets, 2, 16, 2}; }

}  // namespace bcl::test
