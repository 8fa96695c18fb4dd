// Removing one index directory that `bcachefs-lite-ctl index prune` chose,
// without racing a mount that starts meanwhile.
//
// The index's RocksDB LOCK is taken first (an open-file-description write
// lock, which conflicts with the lock RocksDB takes: a mount that opens
// the index meanwhile is refused as busy), the state is decided again under
// it, and the directory is renamed out of the way (root/.NAME.pruning, in
// one step) before it is removed; only then is the lock let go. A mount
// that comes later finds no index and makes a new one, as for a new cache.
// A prune that was interrupted leaves a .pruning directory behind, which the
// next prune removes.
//
// Thread safety: none needed (one call at a time).
#pragma once

#include <functional>
#include <string>

#include "bcachefs_lite/util/error.h"
#include "index_survey.h"

namespace bcl::ctl {

// Removes root/name if, decided again under its lock, `allowed` says its
// state allows it; returns the entry as decided then. Errc::busy when it
// is in use, Errc::exists (naming the state) when `allowed` refuses it.
Result<IndexEntry> remove_index(const std::string& root, const std::string& name, BlockDeviceScan& scan,
                                const std::function<bool(const IndexEntry&)>& allowed);

// The leftovers of interrupted prunes under root, removed; their paths.
std::vector<std::string> remove_prune_leftovers(const std::string& root);

}  // namespace bcl::ctl
