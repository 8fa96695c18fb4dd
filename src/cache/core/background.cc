#include "bcachefs_lite/cache/background.h"

namespace bcl {

Background::Background(bool manual)
    : manual_(manual), strand_(boost::asio::make_strand(io_)), backing_strand_(boost::asio::make_strand(io_)) {}

Background::~Background() { stop(); }

void Background::start() {
    if (manual_ || !threads_.empty()) return;
    io_.restart();
    work_.emplace(boost::asio::make_work_guard(io_));
    for (unsigned i = 0; i < kThreads; ++i) threads_.emplace_back([this] { io_.run(); });
}

void Background::stop() {
    if (threads_.empty()) return;
    work_.reset();
    io_.stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
}

std::size_t Background::run_until_idle() {
    std::size_t n = 0;
    for (;;) {
        io_.restart();
        const std::size_t ran = io_.poll();
        if (ran == 0) return n;
        n += ran;
    }
}

}  // namespace bcl
