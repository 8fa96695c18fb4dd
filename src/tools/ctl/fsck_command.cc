// bcachefs-lite-ctl fsck CACHE... [--index DIR] [--repair]: checks a cache
// that is not mounted (one device, or every device of a cache set in any
// order, as a mount takes them) against its index, and with --repair
// deletes the index entries that are wrong and hold only clean data (see
// bcachefs_lite/cache/fsck.h for what is checked and repaired). Without
// --repair nothing changes: the devices and the index are opened read-only.
//
// Exit codes are fsck(8)'s, not the other verbs': 0 no errors, 1 errors
// corrected, 4 errors left uncorrected, 8 operational error (cannot open,
// in use by a mount), 16 usage error (main.cc maps command-line errors).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <optional>
#include <string>
#include <vector>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/cache/fsck.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/index/index.h"
#include "command.h"

namespace bcl::ctl {

namespace {

constexpr std::size_t kBarWidth = 30;
// A bar redrawn more often than this only costs time.
constexpr std::chrono::milliseconds kRedrawInterval{100};

// "[#########.....]  12345/67890 extents"
std::string bar_line(std::uint64_t done, std::uint64_t total) {
    const std::size_t filled =
        total == 0 ? kBarWidth : static_cast<std::size_t>(kBarWidth * std::min(done, total) / total);
    return fmt::format("[{}{}]  {}/{} extents", std::string(filled, '#'), std::string(kBarWidth - filled, '.'), done,
                       total);
}

int operational(std::string_view message) { return fail(kFsckOperational, message); }

class FsckCommand final : public Subcommand {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* cmd = app.add_subcommand("fsck", "Check an unmounted cache against its index; repair with --repair");
        cmd->add_option("CACHE", caches_, "The cache device or file; every device of a cache set, in any order")
            ->required();
        cmd->add_option("--index", index_dir_,
                        fmt::format("Index directory (default: {}/<cache UUID>)", kDefaultIndexRoot))
            ->type_name("DIR");
        cmd->add_flag("--repair", repair_, "Delete what is wrong and clean; dirty data is never dropped");
        return cmd;
    }

    int usage_exit_code() const override { return kFsckUsage; }

    int run() override {
        auto devices = open_fsck_devices(caches_);
        if (!devices) return operational(devices.error().message);
        std::vector<CacheDevice*> members;
        for (const auto& d : devices.value()) members.push_back(d.get());
        const Superblock& sb = members.front()->superblock();
        set_ = members.size() > 1;
        name_ = set_ ? fmt::format("cache set {}", uuid_to_string(sb.set_id())) : caches_.front();
        const std::string dir = index_dir_.value_or(std::string(kDefaultIndexRoot) + "/" + uuid_to_string(sb.set_id()));

        // A read-only open takes no lock: ask whether a mount holds it.
        if (!repair_)
            if (auto st = check_index_unused(dir); !st) return operational(st.error().message);
        IndexOptions io;
        io.read_only = !repair_;
        io.cache_uuid = sb.set_id();
        auto index = Index::open(dir, io);
        if (!index) {
            if (index.error().code == Errc::busy)
                return operational(fmt::format("{}: unmount the cache before running fsck", index.error().message));
            return operational(index.error().message);
        }

        const bool terminal = ::isatty(STDOUT_FILENO) == 1;
        FsckOptions options;
        options.repair = repair_;
        options.count_first = terminal;
        auto last_draw = std::chrono::steady_clock::time_point{};
        bool drawn = false;
        if (terminal) {
            options.progress = [&](std::uint64_t done, std::uint64_t total) {
                const auto now = std::chrono::steady_clock::now();
                if (done != total && now - last_draw < kRedrawInterval) return;
                last_draw = now;
                drawn = true;
                fmt::print("\r{}\033[K", bar_line(done, total));
                std::fflush(stdout);
            };
        } else {
            std::string given;
            for (const CacheDevice* d : members) given += (given.empty() ? "" : ", ") + d->path();
            if (set_)
                fmt::print("checking {} ({}) against index {}\n", name_, given, dir);
            else
                fmt::print("checking {} against index {}\n", name_, dir);
        }
        auto report = run_fsck(std::span<CacheDevice* const>(members), *index.value(), options);
        if (drawn) fmt::print("\n");
        if (!report) return operational(report.error().message);
        print_report(report.value());
        const FsckReport& r = report.value();
        if (r.left != 0) return kFsckUncorrected;
        if (r.repaired != 0) return kFsckCorrected;
        return kExitOk;
    }

private:
    void print_report(const FsckReport& r) const {
        for (const std::string& p : r.problems) fmt::print("{}\n", p);
        if (r.problem_count > r.problems.size())
            fmt::print("... and {} more problems\n", r.problem_count - r.problems.size());
        fmt::print("extents: {} (live {}, dirty {}, without checksum {})\n", r.extents, r.live, r.dirty, r.unchecked);
        fmt::print("stale: {}{}\n", r.stale, repair_ ? fmt::format(" ({} clean ones deleted)", r.stale_deleted) : "");
        fmt::print("bad pointer: {}\n", r.bad_pointer);
        fmt::print("bad checksum: {}\n", r.bad_checksum);
        fmt::print("read errors: {}\n", r.read_errors);
        // A cache of one device has no copies to compare: its summary stays as it was.
        if (set_) fmt::print("bad copies: {}\n", r.bad_copies);
        fmt::print("corrupt entries: {}\n", r.corrupt_entries);
        fmt::print("orphaned: {}\n", r.orphaned);
        fmt::print("overfull buckets: {}\n", r.overfull_buckets);
        fmt::print("bad bucket records: {}\n", r.bad_bucket_records);
        fmt::print("file records: {} ({} bad)\n", r.files, r.bad_file_records);
        fmt::print("unreachable extents: {}\n", r.unreachable);
        fmt::print("repaired: {}\n", r.repaired);
        fmt::print("left: {}\n", r.left);
        if (r.left != 0)
            fmt::print("{}: {} error{} left uncorrected{}\n", name_, r.left, r.left == 1 ? "" : "s",
                       repair_ ? "" : " (run with --repair to delete what is clean)");
        else if (r.repaired != 0)
            fmt::print("{}: {} error{} corrected\n", name_, r.repaired, r.repaired == 1 ? "" : "s");
        else
            fmt::print("{}: clean\n", name_);
    }

    std::vector<std::string> caches_;
    std::optional<std::string> index_dir_;
    bool set_ = false;  // several devices
    std::string name_;  // what the summary calls the cache
    bool repair_ = false;
};

}  // namespace

std::unique_ptr<Subcommand> make_fsck_command() { return std::make_unique<FsckCommand>(); }

}  // namespace bcl::ctl
