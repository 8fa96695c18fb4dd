// The route of one read or write: where its bytes come from or go, resolved
// in one place from everything that decides it (the cache mode, whether the
// cache is in service, sequential detection, the file's state), as Open
// CAS's ocf_resolve_effective_cache_mode resolves a request's mode.
//
// What a route does not decide is per miss, not per request: whether a
// miss the route lets in is inserted also asks congestion and promotion
// (policy/), each time a backing read has the bytes.
//
// Mode none here is the mode switched at run time: the cache keeps serving
// what it holds and takes nothing new. A mount with mode=none opens no
// cache at all, and no request gets here.
//
// The detector of sequential streams (sequential.h) learns from every
// request it is asked about, so the resolvers ask it, through the callable
// they are given, only when its verdict decides the route.
//
// Thread safety: pure functions.
#pragma once

#include "bcachefs_lite/cache/cache_mode.h"

namespace bcl {

struct ReadFacts {
    CacheMode mode = CacheMode::writethrough;
    bool in_service = true;  // CacheState::running
    bool closing = false;    // the set is closing: no new inserts
    // The cache's data is not this file's to serve: the file is bypassed,
    // has no id, or its coherency check failed.
    bool bypassed = false;
    bool pinned = false;  // a pinned file's misses are always inserted
};

struct ReadRoute {
    enum class Serve {
        nothing,     // the backing file alone
        dirty_only,  // out of service: the cache serves its dirty data only
        all,         // every extent the cache holds
    };
    Serve serve = Serve::all;
    bool insert_misses = false;
    // Counted as a sequential (bypassed) read: it still takes the cache's
    // hits, as bcache's bypassed read does, but inserts nothing.
    bool sequential = false;
};

template <class IsSequential>
ReadRoute resolve_read_route(const ReadFacts& f, IsSequential&& is_sequential) {
    if (f.bypassed) return ReadRoute{ReadRoute::Serve::nothing, false, false};
    const bool sequential = !f.pinned && is_sequential();
    return ReadRoute{f.in_service ? ReadRoute::Serve::all : ReadRoute::Serve::dirty_only,
                     f.in_service && !f.closing && f.mode != CacheMode::none && !sequential, sequential};
}

enum class WriteRoute {
    sequential,  // to the backing file, the range dropped from the cache
    dirty,       // to the cache device as dirty data (writeback)
    no_room,     // writeback mode, but the cache takes no dirty data now:
                 // as around, and counted as a direct write
    through,     // to the backing file, then inserted clean (writethrough)
    around,      // to the backing file, the range dropped from the cache
};

// `sequential`: the detector's final verdict (an append learns its offset
// under the file's write lock, so the caller asks it). `dirty_allowed` is
// asked in writeback mode alone (the cutoffs, the service state, the file
// system the file is on).
template <class DirtyAllowed>
WriteRoute resolve_write_route(CacheMode mode, bool sequential, DirtyAllowed&& dirty_allowed) {
    if (sequential) return WriteRoute::sequential;
    switch (mode) {
    case CacheMode::writeback: return dirty_allowed() ? WriteRoute::dirty : WriteRoute::no_room;
    case CacheMode::writethrough: return WriteRoute::through;
    case CacheMode::writearound:
    case CacheMode::none: break;
    }
    return WriteRoute::around;
}

}  // namespace bcl
