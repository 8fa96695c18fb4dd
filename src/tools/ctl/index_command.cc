// bcachefs-lite-ctl index list | prune: the index directories under an
// index root (one per cache UUID, never removed by a mount) and whether
// their cache still exists (index_survey.h); prune removes those whose
// cache is gone (index_prune.h).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/util/size.h"
#include "command.h"
#include "describe.h"
#include "index_prune.h"
#include "index_survey.h"

namespace bcl::ctl {

namespace {

std::string label(const IndexEntry& e) { return e.uuid ? uuid_to_string(*e.uuid) : e.name; }

std::string cache_column(const IndexEntry& e) {
    std::string out;
    if (e.last_mount)
        for (const auto& p : e.last_mount->cache_paths) out += (out.empty() ? "" : ",") + p;
    if (out.empty()) out = "-";
    const bool elsewhere =
        !e.found_at.empty() &&
        (!e.last_mount || std::find(e.last_mount->cache_paths.begin(), e.last_mount->cache_paths.end(), e.found_at) ==
                              e.last_mount->cache_paths.end());
    if (elsewhere) out += fmt::format(" (found at {})", e.found_at);
    if (!e.note.empty()) out += fmt::format(" ({})", e.note);
    return out;
}

std::string entry_json(const IndexEntry& e) {
    std::string paths;
    if (e.last_mount)
        for (const auto& p : e.last_mount->cache_paths) paths += (paths.empty() ? "" : ",") + json_string(p);
    auto or_null = [](bool have, const std::string& v) { return have ? v : std::string("null"); };
    return fmt::format(
        "{{\"name\":{},\"dir\":{},\"uuid\":{},\"state\":\"{}\",\"bytes\":{},\"last_mount\":{},"
        "\"last_mount_iso\":{},\"cache_paths\":[{}],\"found_at\":{},\"note\":{}}}",
        json_string(e.name), json_string(e.dir),
        or_null(e.uuid.has_value(), e.uuid ? json_string(uuid_to_string(*e.uuid)) : ""), index_state_name(e.state),
        e.bytes, or_null(e.last_mount.has_value(), e.last_mount ? fmt::format("{}", e.last_mount->time) : ""),
        or_null(e.last_mount.has_value(), e.last_mount ? json_string(iso_time(e.last_mount->time)) : ""), paths,
        or_null(!e.found_at.empty(), json_string(e.found_at)), or_null(!e.note.empty(), json_string(e.note)));
}

// Why prune leaves a named index alone; empty if it may go.
std::string refusal(const IndexEntry& e, bool force) {
    switch (e.state) {
    case IndexState::gone: return {};
    case IndexState::present:
        return fmt::format("index {} is not removed: its cache is present ({})", e.dir, e.found_at);
    case IndexState::mounted: return fmt::format("index {} is not removed: it is in use (mounted)", e.dir);
    case IndexState::not_an_index: return fmt::format("{} is not removed: it is not an index ({})", e.dir, e.note);
    case IndexState::unknown:
    case IndexState::unreadable:
        if (force) return {};
        return fmt::format("index {} is not removed: it is {} ({}); name it with --force to remove it anyway", e.dir,
                           index_state_name(e.state), e.note);
    }
    return "not removed";
}

class IndexCommand final : public Subcommand {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* cmd = app.add_subcommand("index", "List and prune the index directories of caches that are gone");
        cmd->require_subcommand(1);
        list_ = cmd->add_subcommand("list", "List the index directories and whether their cache is still there");
        list_->add_option("--root", root_, "Where the index directories are")->capture_default_str();
        list_->add_flag("--json", json_, "Print one JSON object instead of text");
        prune_ = cmd->add_subcommand("prune", "Remove the index directories of caches that are gone");
        prune_->add_option("--root", root_, "Where the index directories are")->capture_default_str();
        prune_->add_flag("--dry-run", dry_run_, "Say what would be removed, remove nothing");
        prune_->add_flag("--force", force_, "Also remove the named indexes whose state is unknown or unreadable");
        prune_->add_option("UUID", names_, "Only these (default: every index whose cache is gone)");
        return cmd;
    }

    int run() override { return prune_->parsed() ? prune() : list(); }

private:
    int list() {
        BlockDeviceScan scan;
        auto entries = survey_indexes(root_, scan);
        if (!entries) return fail(entries.error());
        if (json_) {
            std::string items;
            for (const auto& e : entries.value()) items += (items.empty() ? "" : ",") + entry_json(e);
            fmt::print("{{\"root\":{},\"indexes\":[{}]}}\n", json_string(root_), items);
            return kExitOk;
        }
        if (entries.value().empty()) {
            fmt::print("no index directories in {}\n", root_);
            return kExitOk;
        }
        std::size_t width = 36;
        for (const auto& e : entries.value()) width = std::max(width, label(e).size());
        fmt::print("{:<{}}  {:<12}  {:>9}  {:<20}  {}\n", "UUID", width, "STATE", "SIZE", "LAST MOUNT", "CACHE");
        for (const auto& e : entries.value())
            fmt::print("{:<{}}  {:<12}  {:>9}  {:<20}  {}\n", label(e), width, index_state_name(e.state),
                       format_size_approx(e.bytes), e.last_mount ? iso_time(e.last_mount->time) : "-", cache_column(e));
        return kExitOk;
    }

    int prune() {
        if (force_ && names_.empty())
            return fail(kExitUsage, "--force removes only indexes named on the command line (see --help)");
        BlockDeviceScan scan;
        auto entries = survey_indexes(root_, scan);
        if (!entries) return fail(entries.error());
        int rc = kExitOk;
        std::vector<const IndexEntry*> chosen;
        if (names_.empty()) {
            for (const auto& e : entries.value())
                if (e.state == IndexState::gone) chosen.push_back(&e);
        } else {
            for (const auto& name : names_) {
                auto uuid = parse_uuid(name);
                auto it = std::find_if(entries.value().begin(), entries.value().end(), [&](const IndexEntry& e) {
                    return e.name == name || (uuid && e.uuid == uuid.value());
                });
                if (it == entries.value().end()) {
                    rc = fail(kExitFailure, fmt::format("no index {} in {}", name, root_));
                    continue;
                }
                if (std::find(chosen.begin(), chosen.end(), &*it) != chosen.end()) continue;
                if (std::string why = refusal(*it, force_); !why.empty()) {
                    rc = fail(kExitFailure, why);
                    continue;
                }
                chosen.push_back(&*it);
            }
        }
        if (!dry_run_)
            for (const auto& left : remove_prune_leftovers(root_))
                fmt::print("removed {} (left by an interrupted prune)\n", left);
        if (chosen.empty() && names_.empty()) fmt::print("nothing to remove in {}\n", root_);
        for (const IndexEntry* e : chosen) {
            const std::string what = fmt::format("{} ({}, {})", label(*e), e->dir, format_size_approx(e->bytes));
            if (dry_run_) {
                fmt::print("would remove {}\n", what);
                continue;
            }
            const bool force = force_;
            auto removed = remove_index(root_, e->name, scan, [force](const IndexEntry& now) {
                return now.state != IndexState::mounted && refusal(now, force).empty();
            });
            if (!removed) {
                rc = fail(removed.error());
                continue;
            }
            fmt::print("removed {}\n", what);
        }
        return rc;
    }

    CLI::App* list_ = nullptr;
    CLI::App* prune_ = nullptr;
    std::string root_{kDefaultIndexRoot};
    bool json_ = false;
    bool dry_run_ = false;
    bool force_ = false;
    std::vector<std::string> names_;
};

}  // namespace

std::unique_ptr<Subcommand> make_index_command() { return std::make_unique<IndexCommand>(); }

}  // namespace bcl::ctl
