// StagedDirty: the data of a whole-block writeback write, put on the cache
// device before the write takes its file's write_lock
// (DataPath::stage_dirty): the device write is most of a write's time, and
// the writers of one file would otherwise wait for each other's. Each
// piece keeps its allocation pinned until the write indexes it (take());
// what the write does not use is let go when the StagedDirty is destroyed.
//
// Thread safety: none; it belongs to the one write that staged it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "bcachefs_lite/alloc/open_buckets.h"

namespace bcl {

struct StagedPiece {
    std::uint64_t offset = 0;  // in the file; block-aligned
    SectorAlloc alloc;         // where it is on the cache device
    std::uint32_t crc = 0;     // crc32c of its bytes
    bool pinned = false;       // in a pinned bucket: its file was pinned, within the pin limit
};

class StagedDirty {
public:
    explicit StagedDirty(SectorAllocator* sectors = nullptr) : sectors_(sectors) {}
    ~StagedDirty() {
        for (const StagedPiece& p : pieces_) sectors_->put(p.alloc);
    }
    StagedDirty(StagedDirty&& other) noexcept : sectors_(other.sectors_), pieces_(std::move(other.pieces_)) {
        other.pieces_.clear();
    }
    StagedDirty(const StagedDirty&) = delete;
    StagedDirty& operator=(const StagedDirty&) = delete;
    StagedDirty& operator=(StagedDirty&&) = delete;

    void add(const StagedPiece& piece) { pieces_.push_back(piece); }
    // The piece that starts at `offset`, handed over with its pin; nullopt
    // when there is none.
    std::optional<StagedPiece> take(std::uint64_t offset) {
        for (auto it = pieces_.begin(); it != pieces_.end(); ++it) {
            if (it->offset != offset) continue;
            StagedPiece p = *it;
            pieces_.erase(it);
            return p;
        }
        return std::nullopt;
    }

private:
    SectorAllocator* sectors_;
    std::vector<StagedPiece> pieces_;
};

}  // namespace bcl
