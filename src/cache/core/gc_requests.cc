#include "core/gc_requests.h"

#include <boost/asio/post.hpp>

namespace bcl {

GcRequests::GcRequests(std::uint64_t data_sectors, Background& bg, const std::atomic<bool>& closing,
                       std::function<void()> step)
    : countdown_(data_sectors / kGcWriteFraction), bg_(bg), closing_(closing), step_(std::move(step)) {}

void GcRequests::count_write(std::uint64_t sectors) {
    if (countdown_.consume(sectors) || starved_.exchange(false, std::memory_order_acq_rel)) request();
}

void GcRequests::allocator_wants_gc() {
    if (countdown_.changed()) {
        request();
    } else {
        starved_.store(true, std::memory_order_release);
        // A change may have come between the two checks.
        if (countdown_.changed() && starved_.exchange(false, std::memory_order_acq_rel)) request();
    }
}

void GcRequests::note_change() {
    countdown_.note_change();
    if (starved_.exchange(false, std::memory_order_acq_rel)) request();
}

void GcRequests::request() {
    requested_.store(true, std::memory_order_release);
    if (closing_.load(std::memory_order_acquire) || queued_.exchange(true, std::memory_order_acq_rel)) return;
    boost::asio::post(bg_.strand(), step_);
}

void GcRequests::requeue() {
    if (!queued_.exchange(true, std::memory_order_acq_rel)) boost::asio::post(bg_.strand(), step_);
}

}  // namespace bcl
