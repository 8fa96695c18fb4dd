// bcachefs-lite-ctl show DEV: prints a cache device's superblock. Opens the
// device read-only and without claiming it, so it works on a mounted cache.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <string>

#include "bcachefs_lite/device/cache_device.h"
#include "command.h"
#include "describe.h"

namespace bcl::ctl {

namespace {

class ShowCommand final : public Subcommand {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* cmd = app.add_subcommand("show", "Print the superblock of a cache device");
        cmd->add_option("DEV", device_, "Block device or regular file")->required();
        cmd->add_flag("--json", json_, "Print one JSON object instead of text");
        return cmd;
    }

    int run() override {
        FileDeviceOptions opts;
        opts.read_only = true;
        opts.exclusive = false;
        auto dev = CacheDevice::open(device_, opts);
        if (!dev) return fail(dev.error());
        const Superblock& sb = dev.value()->superblock();
        fmt::print("{}", json_ ? describe_json(device_, sb) : describe_text(device_, sb));
        return kExitOk;
    }

private:
    std::string device_;
    bool json_ = false;
};

}  // namespace

std::unique_ptr<Subcommand> make_show_command() { return std::make_unique<ShowCommand>(); }

}  // namespace bcl::ctl
