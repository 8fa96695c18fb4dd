// bcachefs-lite-ctl: formats, inspects and checks (fsck) bcachefs-lite
// cache devices, flushes a mounted cache, and lists and prunes the index
// directories of caches that are gone.
// Each verb is a Subcommand in its own file; this file only parses the
// command line and dispatches.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <memory>
#include <string_view>
#include <vector>

#include "command.h"

#ifndef BCL_VERSION
#error "BCL_VERSION must be defined by the build"
#endif

namespace bcl::ctl {

int fail(int code, std::string_view message) {
    fmt::print(stderr, "{}: {}\n", kProgram, message);
    return code;
}

int fail(const Error& error) { return fail(kExitFailure, error.message); }

namespace {

int run_main(int argc, char** argv) {
    CLI::App app{"Format and inspect bcachefs-lite cache devices; flush a mounted cache; prune indexes",
                 std::string(kProgram)};
    app.set_version_flag("--version", fmt::format("{} {}", kProgram, BCL_VERSION));
    app.require_subcommand(1);

    std::vector<std::unique_ptr<Subcommand>> commands;
    commands.push_back(make_format_command());
    commands.push_back(make_show_command());
    commands.push_back(make_flush_command());
    commands.push_back(make_fsck_command());
    commands.push_back(make_index_command());
    commands.push_back(make_stats_command());
    std::vector<CLI::App*> apps;
    for (auto& c : commands) apps.push_back(c->add_to(app));

    // CLI11 would call a mistyped verb a missing one; name it instead. The
    // top level has no options that take a value, so the first word that is
    // not an option is the verb.
    int usage_exit = kExitUsage;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg.starts_with('-')) continue;
        bool known = false;
        for (std::size_t c = 0; c < apps.size(); ++c) {
            if (apps[c]->get_name() != arg) continue;
            known = true;
            usage_exit = commands[c]->usage_exit_code();
        }
        if (!known) return fail(kExitUsage, fmt::format("unknown command '{}' (see --help)", arg));
        break;
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);  // --help, --version
    } catch (const CLI::ParseError& e) {
        return fail(usage_exit, fmt::format("{} (see --help)", e.what()));
    }
    for (std::size_t i = 0; i < commands.size(); ++i)
        if (apps[i]->parsed()) return commands[i]->run();
    return fail(kExitUsage, "no command given (see --help)");
}

}  // namespace

}  // namespace bcl::ctl

int main(int argc, char** argv) { return bcl::ctl::run_main(argc, argv); }
