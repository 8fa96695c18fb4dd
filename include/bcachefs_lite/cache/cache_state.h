// Whether a cache set's device is in service (CacheSet::state()).
//
//   running      the cache serves reads and takes inserts as its mode says.
//   failing      the cache device made io_error_limit errors (decayed, see
//                device/io_error_counter.h) and is out of service: clean
//                data is no longer read from it and nothing new is written
//                to it; the dirty data it holds is being written back at
//                full speed, whatever the writeback tunables say.
//   passthrough  out of service, and that writeback is over: everything
//                goes to the backing files. Dirty data that could not be
//                read from the device stays in the index, and reading it
//                still fails with EIO rather than return the older bytes of
//                the backing file.
//
// The state only moves forward, and only while the set is open; a new
// mount starts running again.
#pragma once

#include <string_view>

namespace bcl {

enum class CacheState { running, failing, passthrough };

constexpr std::string_view cache_state_name(CacheState state) {
    switch (state) {
    case CacheState::running: return "running";
    case CacheState::failing: return "failing";
    case CacheState::passthrough: return "passthrough";
    }
    return "running";
}

}  // namespace bcl
