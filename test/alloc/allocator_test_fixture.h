// A CacheAllocator over the small test geometry, driven by a manual executor.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "bcachefs_lite/alloc/cache_allocator.h"
#include "test_support.h"

namespace bcl::test {

class AllocatorFixture {
protected:
    void make(AllocatorOptions options = {}, Geometry g = small_geometry()) {
        auto r = CacheAllocator::create(0, g, store_, exec_.executor(), std::move(options));
        ASSERT_TRUE(r) << r.error().message;
        a_ = std::move(r).value();
    }
    // Lets the task run: GC marks valid, then every step it queues.
    void start_and_refill() {
        a_->gc_finish();
        exec_.run_until_idle();
    }
    std::vector<std::uint64_t> none() const { return a_->freelist(Reserve::none); }
    std::vector<std::uint64_t> movinggc() const { return a_->freelist(Reserve::movinggc); }

    FakeGenStore store_;
    ManualExecutor exec_;
    std::unique_ptr<CacheAllocator> a_;  // last: destroyed before what it uses
};

}  // namespace bcl::test
