// Comparisons of a folder tree with the crash model: after a crash and a
// new mount, through the mount (each name holds a state the model allows);
// at the end, in the backing folder after a flush (exactly the expected
// names and contents, nothing more).
//
// Thread safety: free functions without shared state.
#pragma once

#include <string>
#include <vector>

#include "crash_model.h"

namespace bcl::test {

// What a name holds, seen through a path: its contents or its absence, or
// why it could be read neither way.
struct Observation {
    Content content;
    std::string error;  // empty when content says it all
};

Observation observe(const std::string& path);

// Checks every name of `layout` under `mnt` against `model` and then
// settles the model to what the names hold. One line per problem, each
// naming the file; empty when all is well.
std::vector<std::string> check_after_crash(const std::string& mnt, const CrashLayout& layout, CrashModel& model);

// Entries under `root` that `layout` does not name (at the top: anything
// but its folders; in its folders: anything but its names), or that are
// of the wrong type.
std::vector<std::string> unexpected_entries(const std::string& root, const CrashLayout& layout);

// `root` holds exactly what `model` says, which must have nothing in
// flight: each name's acknowledged contents byte for byte, no name it says
// is absent, and nothing else. One line per problem.
std::vector<std::string> compare_exactly(const std::string& root, const CrashLayout& layout, const CrashModel& model);

}  // namespace bcl::test
