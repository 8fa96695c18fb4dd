// SequentialStream (sequential_stream.h): the run, the pieces apart from it
// and the window. At most kSequentialPieces ranges are looked at per
// request: this runs on every read and write.
#include "bcachefs_lite/cache/sequential_stream.h"

#include <algorithm>

namespace bcl {

void SequentialStream::start(std::uint64_t offset, std::uint64_t length) {
    start_ = offset;
    end_ = offset + length;
    last_length_ = length;
    requests_ = 0;
    pieces_ = {};
}

std::uint64_t SequentialStream::window(std::uint64_t length, std::uint64_t limit) const {
    const std::uint64_t request = std::min(std::max(length, last_length_), kSequentialWindow);
    // Two requests swapped are always within it, up to 1 MiB requests.
    return std::max(std::min(request * kSequentialReorder, limit), std::min(2 * request, kSequentialWindow));
}

std::optional<std::uint64_t> SequentialStream::distance(std::uint64_t offset, std::uint64_t length,
                                                        std::uint64_t limit) const {
    const std::uint64_t end = offset + length;
    // A re-read covers no new ground: as in bcache, it is no continuation
    // (a hot set read over and over must not grow a run).
    if (offset >= start_ && end <= end_) return std::nullopt;
    for (const Range& p : pieces_)
        if (!p.empty() && offset >= p.start && end <= p.end) return std::nullopt;
    const std::uint64_t w = window(length, limit);
    if (offset > end_) {
        // Ahead: all of it within the window, so the pieces stay there.
        if (end - end_ > w) return std::nullopt;
        return offset - end_;
    }
    if (end >= end_) return 0;
    // Behind, in the run or below it. Far behind is a new pass over the file.
    if (end_ - end > w) return std::nullopt;
    return end_ - end;
}

std::uint64_t SequentialStream::add(std::uint64_t offset, std::uint64_t length) {
    const std::uint64_t before = run();
    const Range r{offset, offset + length, ++requests_};
    last_length_ = length;
    // Reordering moves a request by fewer than kSequentialReorder places: a
    // gap still open after that many requests is never read (random reads
    // near each other), and its piece goes.
    for (Range& p : pieces_)
        if (!p.empty() && requests_ - p.born > kSequentialReorder) p = Range{};
    if (r.start <= end_ && r.end >= start_) {
        start_ = std::min(start_, r.start);
        end_ = std::max(end_, r.end);
        take_in_pieces();
    } else {
        keep_piece(r);
    }
    return run() - before;
}

void SequentialStream::take_in_pieces() {
    // Each pass takes in at least one piece or ends the loop.
    for (bool grew = true; grew;) {
        grew = false;
        for (Range& p : pieces_) {
            if (p.empty() || p.start > end_ || p.end < start_) continue;
            start_ = std::min(start_, p.start);
            end_ = std::max(end_, p.end);
            p = Range{};
            grew = true;
        }
    }
}

void SequentialStream::keep_piece(Range r) {
    // Pieces that r touches become one with it.
    for (Range& p : pieces_) {
        if (p.empty() || p.start > r.end || p.end < r.start) continue;
        r = Range{std::min(r.start, p.start), std::max(r.end, p.end), std::min(r.born, p.born)};
        p = Range{};
    }
    // A free slot, else the piece farthest from the run's end: far pieces
    // are the least likely to be reached (those behind it, above all).
    const auto far = [this](const Range& p) { return p.start > end_ ? p.start - end_ : end_ - p.end; };
    Range* slot = &pieces_[0];
    for (Range& p : pieces_) {
        if (p.empty()) {
            slot = &p;
            break;
        }
        if (far(p) > far(*slot)) slot = &p;
    }
    if (slot->empty() || far(*slot) > far(r)) *slot = r;
}

}  // namespace bcl
