#include "crash_check.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "../cache_e2e.h"

namespace bcl::test {
namespace {

namespace stdfs = std::filesystem;

bool contains(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// The entries of the folder `dir`, relative to `root`, or a problem.
std::vector<std::string> list_folder(const std::string& root, const std::string& dir,
                                     std::vector<std::string>& problems) {
    std::vector<std::string> entries;
    std::error_code ec;
    stdfs::path base = dir.empty() ? stdfs::path(root) : stdfs::path(root) / dir;
    for (auto it = stdfs::directory_iterator(base, ec); !ec && it != stdfs::directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        entries.push_back(dir.empty() ? name : dir + "/" + name);
    }
    if (ec) problems.push_back("listing " + base.string() + ": " + ec.message());
    return entries;
}

}  // namespace

Observation observe(const std::string& path) {
    Observation seen;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) seen.error = std::string("lstat: ") + std::strerror(errno);
        return seen;
    }
    if (!S_ISREG(st.st_mode)) {
        seen.error = "not a regular file";
        return seen;
    }
    int err = 0;
    seen.content = read_whole(path, /*direct=*/false, &err);
    if (!seen.content) seen.error = std::string("read: ") + std::strerror(err);
    return seen;
}

std::vector<std::string> check_after_crash(const std::string& mnt, const CrashLayout& layout, CrashModel& model) {
    std::vector<std::string> problems;
    std::vector<Observation> seen;
    for (std::size_t n = 0; n < layout.names.size(); ++n) {
        seen.push_back(observe(mnt + "/" + layout.names[n]));
        std::string why =
            seen.back().error.empty() ? model.check(n, seen.back().content) : "cannot be read: " + seen.back().error;
        if (!why.empty()) problems.push_back(layout.names[n] + " " + why + " (model: " + model.describe(n) + ")");
    }
    for (const std::string& extra : unexpected_entries(mnt, layout)) problems.push_back(extra);
    if (problems.empty()) {
        for (std::size_t n = 0; n < layout.names.size(); ++n) model.settle(n, seen[n].content);
    }
    return problems;
}

std::vector<std::string> unexpected_entries(const std::string& root, const CrashLayout& layout) {
    std::vector<std::string> problems;
    for (const std::string& entry : list_folder(root, "", problems)) {
        if (!contains(layout.dirs, entry)) {
            problems.push_back(entry + " exists, but the workload never made it");
        } else if (!stdfs::is_directory(stdfs::symlink_status(stdfs::path(root) / entry))) {
            problems.push_back(entry + " is not a folder");
        }
    }
    for (const std::string& dir : layout.dirs) {
        for (const std::string& entry : list_folder(root, dir, problems)) {
            if (!contains(layout.names, entry)) problems.push_back(entry + " exists, but the workload never made it");
        }
    }
    return problems;
}

std::vector<std::string> compare_exactly(const std::string& root, const CrashLayout& layout, const CrashModel& model) {
    std::vector<std::string> problems = unexpected_entries(root, layout);
    for (std::size_t n = 0; n < layout.names.size(); ++n) {
        const NameState& state = model[n];
        if (state.pending) {
            problems.push_back(layout.names[n] + ": the model still has changes in flight (" + model.describe(n) + ")");
            continue;
        }
        Observation seen = observe(root + "/" + layout.names[n]);
        if (!seen.error.empty()) {
            problems.push_back(layout.names[n] + " cannot be read: " + seen.error);
        } else if (std::string why = model.check(n, seen.content); !why.empty()) {
            problems.push_back(layout.names[n] + " " + why);
        }
    }
    return problems;
}

}  // namespace bcl::test
