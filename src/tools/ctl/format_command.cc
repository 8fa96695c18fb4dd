// bcachefs-lite-ctl format DEV...: writes a new cache superblock, or the
// superblocks of one cache set over several devices.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <optional>
#include <string>
#include <vector>

#include "bcachefs_lite/device/format.h"
#include "bcachefs_lite/util/size.h"
#include "command.h"
#include "describe.h"

namespace bcl::ctl {

namespace {

class FormatCommand final : public Subcommand {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* cmd = app.add_subcommand(
            "format", "Format DEV (a block device or a file) as a cache; several DEVs as one cache set");
        cmd->add_option("DEV", devices_, "Block devices or regular files")->required();
        cmd->add_option("--bucket-size", bucket_size_, "Bucket size (power of two, up to 8M)")->default_str("512k");
        cmd->add_option("--block-size", block_size_, "Block size (power of two, 512 to 64k)")->default_str("4k");
        cmd->add_option("--size", size_, "Create a regular file of this size (sparse)");
        cmd->add_option("--replacement", replacement_, "Bucket replacement policy")
            ->check(CLI::IsMember({"lru", "fifo", "random"}))
            ->default_str("lru");
        cmd->add_flag("--discard", discard_, "Discard buckets before reuse, and all of them now");
        cmd->add_flag("--force", force_, "Overwrite an existing cache or filesystem");
        return cmd;
    }

    int run() override {
        FormatOptions opts;
        auto bucket = parse_size(bucket_size_, "bucket size");
        if (!bucket) return fail(kExitUsage, bucket.error().message);
        auto block = parse_size(block_size_, "block size");
        if (!block) return fail(kExitUsage, block.error().message);
        if (auto st = validate_sizes(block.value(), bucket.value()); !st) return fail(kExitUsage, st.error().message);
        opts.bucket_size = static_cast<std::uint32_t>(bucket.value());
        opts.block_size = static_cast<std::uint32_t>(block.value());
        if (size_) {
            auto size = parse_size(*size_, "size");
            if (!size) return fail(kExitUsage, size.error().message);
            opts.size = size.value();
        }
        opts.replacement = parse_replacement(replacement_).value_or(Replacement::lru);
        opts.discard = discard_;
        opts.force = force_;

        if (devices_.size() == 1) {
            auto sb = format_device(devices_[0], opts);
            if (!sb) return fail(sb.error());
            fmt::print("{}", describe_text(devices_[0], sb.value()));
            return kExitOk;
        }
        auto sbs = format_set(devices_, opts);
        if (!sbs) return fail(sbs.error());
        for (std::size_t i = 0; i < devices_.size(); ++i) {
            if (i != 0) fmt::print("\n");
            fmt::print("{}", describe_text(devices_[i], sbs.value()[i]));
        }
        return kExitOk;
    }

private:
    std::vector<std::string> devices_;
    std::string bucket_size_ = "512k";
    std::string block_size_ = "4k";
    std::optional<std::string> size_;
    std::string replacement_ = "lru";
    bool discard_ = false;
    bool force_ = false;
};

}  // namespace

std::unique_ptr<Subcommand> make_format_command() { return std::make_unique<FormatCommand>(); }

}  // namespace bcl::ctl
