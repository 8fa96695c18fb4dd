// Subcommand: one bcachefs-lite-ctl verb (format, show, flush, fsck,
// index, stats). Each verb lives in its own file, registers its options
// on the CLI11 app, and runs once the command line has been parsed.
// main.cc only dispatches.
//
// Exit codes are shared by every verb but fsck: 0 success, 1 the operation
// failed, 2 the command line was wrong; fsck uses fsck(8)'s (kFsck*).
// Errors are printed as one line, "bcachefs-lite-ctl: <message>", on
// stderr.
#pragma once

#include <CLI/App.hpp>
#include <memory>
#include <string_view>

#include "bcachefs_lite/util/error.h"

namespace bcl::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
// fsck(8)'s exit codes, for the fsck verb.
inline constexpr int kFsckCorrected = 1;
inline constexpr int kFsckUncorrected = 4;
inline constexpr int kFsckOperational = 8;
inline constexpr int kFsckUsage = 16;
inline constexpr std::string_view kProgram = "bcachefs-lite-ctl";

class Subcommand {
public:
    virtual ~Subcommand() = default;
    // Adds the verb and its options to app; returns the CLI11 subcommand.
    virtual CLI::App* add_to(CLI::App& app) = 0;
    // Runs the verb with the parsed options; returns the exit code.
    virtual int run() = 0;
    // The exit code of a command line error in this verb's arguments.
    virtual int usage_exit_code() const { return kExitUsage; }
};

std::unique_ptr<Subcommand> make_format_command();
std::unique_ptr<Subcommand> make_show_command();
std::unique_ptr<Subcommand> make_flush_command();
std::unique_ptr<Subcommand> make_fsck_command();
std::unique_ptr<Subcommand> make_index_command();
std::unique_ptr<Subcommand> make_stats_command();

// Prints "bcachefs-lite-ctl: message" on stderr and returns code.
int fail(int code, std::string_view message);
// The same for an Error: exit 1.
int fail(const Error& error);

}  // namespace bcl::ctl
