// The ground one sequential stream has covered, tolerant of requests that
// arrive out of order (sequential.h keeps 128 of them).
//
// A reader's requests do not reach the engine in the order it made them:
// the kernel's readahead has several requests in flight at once and the
// FUSE layer's worker threads take them up in any order (128K, 0, 384K,
// 256K, ...). A stream therefore holds its run, the range [start, end)
// read in full, and up to kSequentialPieces ranges read near it but apart
// from it, waiting for the requests in between. A request continues the
// stream when it lands within the stream's window of the run's end, behind
// or ahead; it joins the run when it touches it, and the run then takes in
// the pieces it now touches too. The run's length is what counts towards
// sequential_cutoff: bytes read twice count once, and a piece counts only
// once the gap before it is filled, so reads that land near each other at
// random, leaving holes, add nothing until the holes are read too.
//
// The window is kSequentialReorder times the larger of the request's
// length and the stream's last request's, at most sequential_window(cutoff)
// but at least two such requests (up to kSequentialWindow): reordering
// moves a request by a few requests in flight, whatever their size, and
// small random reads must come that much closer to join. A piece whose gap is still open kSequentialReorder
// requests later is dropped: that gap was never coming.
//
// The bound: while a run is shorter than the cutoff its requests are
// inserted into the cache, and the pieces apart from it lie within one
// window of its end, so a sequential read, in whatever order its requests
// come within the window, inserts at most the cutoff plus one window: plus
// 1 MiB at the default 4 MiB cutoff with 128 KiB readahead requests, and
// never plus more than kSequentialWindow.
//
// What random reads can do: a 4K read joins only within 64K of a stream's
// end, a re-read of the run is no continuation, and a piece adds nothing
// until every byte before it is read. Random reads over a large file, or
// each block of a file once in random order, never make a run. A small hot
// set read over and over does fill its gaps; the window's cap at a quarter
// of the cutoff keeps its runs under cutoffs of 1 MiB and more, but a
// cutoff of a dozen or so requests (64K of 4K reads) can still be reached
// by a hot set of under some 16 cutoffs.
//
// Thread safety: none; SequentialDetector locks around it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

namespace bcl {

// The widest window: twice the largest request the FUSE layer takes
// (1 MiB), and sixteen of the kernel's 128 KiB readahead requests, more than
// the 12 asynchronous requests it keeps in flight by default (fuse's
// max_background).
inline constexpr std::uint64_t kSequentialWindow = 2 << 20;
// The window is at most this share of the cutoff: the closer the window
// comes to the cutoff, the fewer random reads that land near each other make
// a run of it. At the default 4 MiB cutoff: 1 MiB, eight readahead requests.
inline constexpr std::uint64_t kSequentialWindowsPerCutoff = 4;
// Requests: how far, in requests of its own size, a request may be moved.
inline constexpr std::uint64_t kSequentialReorder = 16;
// Ranges apart from the run. Requests of one size shuffled within 16 of them
// leave at most 8 apart (every other one).
inline constexpr std::size_t kSequentialPieces = 8;

// The widest window under `cutoff` but for the two-request floor.
constexpr std::uint64_t sequential_window(std::uint64_t cutoff) {
    return cutoff / kSequentialWindowsPerCutoff < kSequentialWindow ? cutoff / kSequentialWindowsPerCutoff
                                                                    : kSequentialWindow;
}

class SequentialStream {
public:
    // A new stream whose run is [offset, offset + length).
    void start(std::uint64_t offset, std::uint64_t length);

    // How far [offset, offset + length) lies from the run's end (0 when it
    // touches it), or nullopt when it covers no new ground or lies outside
    // the stream's window, which is at most `limit` bytes.
    std::optional<std::uint64_t> distance(std::uint64_t offset, std::uint64_t length, std::uint64_t limit) const;

    // Adds a range that distance() accepted; returns the bytes the run grew by.
    std::uint64_t add(std::uint64_t offset, std::uint64_t length);

    // The run: bytes read in full from start() on, each counted once.
    std::uint64_t run() const { return end_ - start_; }
    std::uint64_t end() const { return end_; }

private:
    struct Range {
        std::uint64_t start = 0;
        std::uint64_t end = 0;   // == start: a free slot
        std::uint64_t born = 0;  // requests_ when it was first read
        bool empty() const { return start == end; }
    };

    std::uint64_t window(std::uint64_t length, std::uint64_t limit) const;
    void take_in_pieces();
    void keep_piece(Range r);

    std::uint64_t start_ = 0;
    std::uint64_t end_ = 0;
    std::uint64_t last_length_ = 0;
    std::uint64_t requests_ = 0;  // added since start()
    std::array<Range, kSequentialPieces> pieces_{};
};

}  // namespace bcl
