// Fifo: a bounded ring buffer, bcache's DECLARE_FIFO. Capacity is fixed at
// construction; push fails (returns false) when full instead of growing, which
// is what the allocator's freelists rely on to apply back-pressure.
//
// Thread safety: none; the owner guards it (the allocator's bucket lock).
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace bcl {

template <class T>
class Fifo {
public:
    Fifo() = default;
    explicit Fifo(std::size_t capacity) : data_(capacity) {}

    std::size_t capacity() const { return data_.size(); }
    std::size_t size() const { return used_; }
    bool empty() const { return used_ == 0; }
    bool full() const { return used_ == data_.size(); }

    [[nodiscard]] bool push(const T& v) {
        if (full()) return false;
        data_[(front_ + used_) % data_.size()] = v;
        ++used_;
        return true;
    }

    // Pushes at the front, so the next pop returns v (bcache's fifo_push_front).
    [[nodiscard]] bool push_front(const T& v) {
        if (full()) return false;
        front_ = (front_ + data_.size() - 1) % data_.size();
        data_[front_] = v;
        ++used_;
        return true;
    }

    std::optional<T> pop() {
        if (empty()) return std::nullopt;
        T v = data_[front_];
        front_ = (front_ + 1) % data_.size();
        --used_;
        return v;
    }

    const T& front() const { return data_[front_]; }
    // i-th element from the front, 0 <= i < size().
    const T& at(std::size_t i) const { return data_[(front_ + i) % data_.size()]; }

    void clear() { front_ = used_ = 0; }

    bool contains(const T& v) const {
        for (std::size_t i = 0; i < used_; ++i)
            if (at(i) == v) return true;
        return false;
    }

private:
    std::vector<T> data_;
    std::size_t front_ = 0;
    std::size_t used_ = 0;
};

}  // namespace bcl
