// ExtentCursor: walks every extent of the index in key order (file id,
// then end offset) without loading the index into memory; for GC and
// fsck.
//
// A cursor reads a consistent view taken when it was made and pins the
// files of that view while it lives: keep cursors short-lived, and walk a
// large index in bounded steps, making a new cursor from the key after the
// last one seen (Index::scan_extents(from)).
//
// Thread safety: none; one thread uses a cursor. Cursors of one Index may
// be used concurrently with each other and with writers. A cursor must be
// destroyed before its Index.
#pragma once

#include <memory>
#include <string>

#include "bcachefs_lite/index/index_types.h"
#include "bcachefs_lite/util/error.h"

namespace bcl {

class ExtentCursor {
public:
    ~ExtentCursor();
    ExtentCursor(const ExtentCursor&) = delete;
    ExtentCursor& operator=(const ExtentCursor&) = delete;

    // True while positioned on an entry; after false, check status().
    bool valid() const;
    // The current entry's key; Errc::corrupt when the stored key is not an
    // extent key (fsck then deletes raw_key()).
    Result<ExtentKey> key() const;
    // The current entry's value; Errc::corrupt when it does not decode.
    Result<ExtentValue> value() const;
    // The key exactly as stored.
    std::string raw_key() const;
    void next();
    // Whether the walk stopped because of an error rather than at the end.
    Status status() const;

private:
    friend class Index;
    struct Impl;
    explicit ExtentCursor(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace bcl
