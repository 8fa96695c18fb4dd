// BoundedHeap: bcache's DECLARE_HEAP, a binary heap of fixed capacity whose
// comparator is given per call. The LRU pass needs exactly that: it keeps the
// N cheapest buckets in a max-heap (evicting the dearest when a cheaper one
// appears), then re-heapifies as a min-heap to pop them cheapest first.
//
// cmp(a, b) true means a must sit below b (closer to the leaves): with
// cmp = "a < b" the top is the largest element.
//
// Thread safety: none; the owner guards it.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace bcl {

template <class T>
class BoundedHeap {
public:
    BoundedHeap() = default;
    explicit BoundedHeap(std::size_t capacity) {
        data_.reserve(capacity);
        capacity_ = capacity;
    }

    std::size_t capacity() const { return capacity_; }
    std::size_t size() const { return data_.size(); }
    bool empty() const { return data_.empty(); }
    bool full() const { return data_.size() >= capacity_; }
    void clear() { data_.clear(); }
    const T& top() const { return data_.front(); }
    const T& at(std::size_t i) const { return data_[i]; }

    template <class Cmp>
    [[nodiscard]] bool add(const T& v, Cmp cmp) {
        if (full()) return false;
        data_.push_back(v);
        sift_up(data_.size() - 1, cmp);
        return true;
    }

    // Replaces the top with v and restores the heap order.
    template <class Cmp>
    void replace_top(const T& v, Cmp cmp) {
        data_.front() = v;
        sift_down(0, cmp);
    }

    template <class Cmp>
    std::optional<T> pop(Cmp cmp) {
        if (data_.empty()) return std::nullopt;
        T v = data_.front();
        data_.front() = data_.back();
        data_.pop_back();
        if (!data_.empty()) sift_down(0, cmp);
        return v;
    }

    // Re-establishes the heap order under another comparator (bottom-up).
    template <class Cmp>
    void rebuild(Cmp cmp) {
        for (std::size_t i = data_.size() / 2; i-- > 0;) sift_down(i, cmp);
    }

private:
    template <class Cmp>
    void sift_up(std::size_t i, Cmp cmp) {
        while (i > 0) {
            std::size_t parent = (i - 1) / 2;
            if (!cmp(data_[parent], data_[i])) break;
            std::swap(data_[parent], data_[i]);
            i = parent;
        }
    }

    template <class Cmp>
    void sift_down(std::size_t i, Cmp cmp) {
        const std::size_t n = data_.size();
        for (;;) {
            std::size_t child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && cmp(data_[child], data_[child + 1])) ++child;
            if (!cmp(data_[i], data_[child])) break;
            std::swap(data_[i], data_[child]);
            i = child;
        }
    }

    std::vector<T> data_;
    std::size_t capacity_ = 0;
};

}  // namespace bcl
