// A model-based check of a directory against POSIX: seed-deterministic
// random sequences of open (also O_DIRECT and O_CREAT|O_TRUNC), pread,
// pwrite, read and write at the file position (after an lseek),
// ftruncate, truncate, fallocate (punch hole, zero range), copy_file_range,
// rename (also over open files), unlink of open files, link, fsync, mmap
// reads and writes, and close, each result compared with an in-memory
// model of files, names and open descriptors.
//
// It runs on any directory: a bcachefs-lite mount in the tests, and a
// plain ext4 directory in bench/model_soak, which checks the model itself
// with the same sequences.
//
// Thread safety: one ModelRun per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bcl::test {

struct ModelResult {
    std::uint64_t operations = 0;
    // One line per mismatch: the operation number, what was done, what
    // the model expected and what the directory gave. Empty when none.
    std::vector<std::string> mismatches;
    // The operations of the run, one a line, for a failure message.
    std::vector<std::string> log;
};

struct ModelOptions {
    std::uint64_t seed = 1;
    std::uint64_t operations = 1000;
    // Called after the sequence, with every descriptor closed, before the
    // final comparison of every name's contents: a test remounts here (and
    // writes back), so that the contents are read again from scratch.
    std::function<void()> after_close;
    // The directory the final comparison reads (by default the one run
    // on): the backing directory, to check what reached it.
    std::string final_dir;
    // Stop at the first mismatch (to keep a sequence short). Default: yes.
    bool stop_at_first = true;
};

// Runs the sequence of `options.seed` in `dir`, which must be empty.
ModelResult run_posix_model(const std::string& dir, const ModelOptions& options);

}  // namespace bcl::test
