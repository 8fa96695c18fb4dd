#include "describe.h"

#include <ctime>
#include <fmt/format.h>

#include "bcachefs_lite/util/size.h"
#include "bcachefs_lite/util/uuid.h"
#include "json.h"

namespace bcl::ctl {

std::string iso_time(std::uint64_t seconds) {
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) return fmt::format("@{}", seconds);
    char buf[32];
    if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return fmt::format("@{}", seconds);
    return buf;
}

std::string describe_text(const std::string& device, const Superblock& sb) {
    std::string out;
    auto line = [&](std::string_view name, const std::string& value) {
        out += fmt::format("{:<15}{}\n", fmt::format("{}:", name), value);
    };
    line("device", device);
    line("uuid", uuid_to_string(sb.uuid));
    line("version", fmt::format("{}", sb.version));
    line("block size", fmt::format("{} ({} bytes)", format_size(sb.block_size), sb.block_size));
    line("bucket size", fmt::format("{} ({} bytes)", format_size(sb.bucket_size), sb.bucket_size));
    line("buckets", fmt::format("{} total, first {}, {} usable", sb.nbuckets, sb.first_bucket, sb.usable_buckets()));
    line("capacity", fmt::format("{} ({} bytes)", format_size_approx(sb.capacity()), sb.capacity()));
    if (sb.nr_in_set != 0)
        line("cache set", fmt::format("{}, device {} of {}", uuid_to_string(sb.set_uuid), sb.dev_idx, sb.nr_in_set));
    line("replacement", std::string(replacement_name(sb.replacement)));
    line("discard", sb.discard() ? "yes" : "no");
    line("dirty data", sb.dirty() ? "maybe (its index is needed to mount it)" : "none");
    line("created", iso_time(sb.created));
    return out;
}

std::string describe_json(const std::string& device, const Superblock& sb) {
    return fmt::format(
        "{{\"device\":{},\"uuid\":\"{}\",\"version\":{},\"block_size\":{},\"bucket_size\":{},"
        "\"nbuckets\":{},\"first_bucket\":{},\"usable_buckets\":{},\"capacity\":{},"
        "\"replacement\":\"{}\",\"discard\":{},\"dirty\":{},\"created\":{},\"created_iso\":\"{}\","
        "\"set_uuid\":\"{}\",\"nr_in_set\":{},\"dev_idx\":{}}}\n",
        json_string(device), uuid_to_string(sb.uuid), sb.version, sb.block_size, sb.bucket_size, sb.nbuckets,
        sb.first_bucket, sb.usable_buckets(), sb.capacity(), replacement_name(sb.replacement),
        sb.discard() ? "true" : "false", sb.dirty() ? "true" : "false", sb.created, iso_time(sb.created),
        uuid_to_string(sb.set_id()), sb.set_size(), sb.dev_idx);
}

}  // namespace bcl::ctl
