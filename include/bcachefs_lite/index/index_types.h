// In-memory types the index hands out: whole extents, what an insert or a
// removal took away from the extents already there, and the outcome of a
// committed batch.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <vector>

#include "bcachefs_lite/index/extent_format.h"

namespace bcl {

// One extent of one file: the bytes [start(), key.end) of file key.file.
struct Extent {
    ExtentKey key;
    ExtentValue value;

    std::uint64_t file() const { return key.file; }
    std::uint64_t start() const { return key.end - value.length; }
    std::uint64_t end() const { return key.end; }

    bool operator==(const Extent&) const = default;
};

// What a mutation took away from one extent that was in the index.
// `removed` is the part no longer indexed, described as an extent of its
// own: same device, bucket and gen as `before`, its sector is that of the
// removed part's first byte, its length the bytes removed. The cache engine
// subtracts removed.value.length from the bucket's live bytes when the gen
// still matches. removed == before when the whole extent went away.
struct ExtentOverwrite {
    Extent before;
    Extent removed;

    bool operator==(const ExtentOverwrite&) const = default;
};

// The outcome of Index::commit().
struct CommitResult {
    // Every extent piece the batch's inserts and removals took away, in the
    // order the operations were staged. drop_file_extents() reports
    // nothing (it deletes a key range without reading it).
    std::vector<ExtentOverwrite> overwrites;
    // Conditional extent operations (delete/replace if unchanged) that were
    // skipped because the extent was not what the caller expected.
    std::vector<ExtentKey> skipped;
};

}  // namespace bcl
