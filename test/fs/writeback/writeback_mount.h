// Helpers of the end-to-end tests of writeback: the mount options of the
// two paces the tests run writeback at, flushing through bcachefs-lite-ctl
// and through the flush attribute, and the dirty data a mount reports.
//
// Thread safety: free functions without shared state.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "../test_mount.h"

namespace bcl::test {

enum class WritebackPace {
    // Writeback starts at once and runs as fast as it can, so that a kill
    // lands in the middle of it.
    hard,
    // Writeback does not run: dirty data stays dirty until a flush.
    stopped,
};

const char* pace_name(WritebackPace pace);

// The -o options of a writeback mount at `pace` (timeouts 0, so that every
// read reaches the daemon).
std::string writeback_options(WritebackPace pace);

// A MountSpec with writeback_options(pace).
MountSpec writeback_spec(WritebackPace pace);

// How long a flush of the tests' few megabytes may take at most.
inline constexpr std::chrono::milliseconds kFlushTimeout{60000};

// bcachefs-lite-ctl flush MNT; empty when it exited 0, else what went wrong.
std::string ctl_flush(const std::string& mnt);

// Sets user.bcachefs_lite.flush=1 on the mount root: starts a flush without
// waiting for it. Empty on success, else the error.
std::string start_flush(const std::string& mnt);

// user.bcachefs_lite.dirty_data of the mount at `mnt`.
std::optional<std::uint64_t> dirty_data(const std::string& mnt);

}  // namespace bcl::test
