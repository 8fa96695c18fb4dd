// Writes the checked-in seed corpora of the fuzz targets and the mount
// option dictionary from the real encoders and the real option table, so
// that every seed starts from a valid input:
//
//     ninja -C build-fuzz test/fuzz/make_seeds && build-fuzz/test/fuzz/make_seeds test/fuzz
//
// Run it again when a format or the option table changes. It writes
// corpus/<target>/<name> and mount_options.dict under the directory given,
// and leaves other files there alone: inputs that once found a bug stay in
// the corpus as they were found.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "bcachefs_lite/device/superblock.h"
#include "bcachefs_lite/fs/mount_options.h"
#include "bcachefs_lite/index/bucket_format.h"
#include "bcachefs_lite/index/dirty_file_format.h"
#include "bcachefs_lite/index/extent_format.h"
#include "bcachefs_lite/index/file_format.h"
#include "bcachefs_lite/index/index_format.h"
#include "read_grants.h"
#include "record_kinds.h"

namespace bcl {
namespace {

namespace fs = std::filesystem;
using fuzz::record_selector;
using fuzz::RecordFraming;
using fuzz::RecordKind;

void write_file(const fs::path& path, std::string_view bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// fuzz_superblock pads the block with zeros, so the seed stops at its last
// nonzero byte.
void superblock_seed(const fs::path& dir, std::string_view name, std::uint8_t mode, const Superblock& sb) {
    const auto block = encode_superblock(sb);
    std::size_t end = block.size();
    while (end > 0 && block[end - 1] == std::byte{0}) --end;
    std::string bytes(1, static_cast<char>(mode));
    bytes.append(reinterpret_cast<const char*>(block.data()), end);
    write_file(dir / "corpus" / "superblock" / name, bytes);
}

Superblock geometry(std::uint32_t block_size, std::uint32_t bucket_size, std::uint64_t usable) {
    Superblock sb;
    sb.uuid = {0x5e, 0xed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    sb.block_size = block_size;
    sb.bucket_size = bucket_size;
    sb.first_bucket = first_bucket_for(bucket_size);
    sb.nbuckets = sb.first_bucket + usable;
    sb.created = 1'700'000'000;
    return sb;
}

void superblock_seeds(const fs::path& dir) {
    superblock_seed(dir, "default", 0, geometry(kDefaultBlockSize, kDefaultBucketSize, 1000));
    Superblock fifo = geometry(512, 4096, kMinUsableBuckets);
    fifo.flags = kSbFlagDiscard;
    fifo.replacement = Replacement::fifo;
    superblock_seed(dir, "small_fifo_discard", 0, fifo);
    Superblock random = geometry(kMaxBlockSize, kMaxBucketSize, 1u << 20);
    random.replacement = Replacement::random;
    superblock_seed(dir, "large_random", 0, random);
    // Mode 1 reseals: a block whose geometry is wrong but whose checksum the
    // target makes right, to start right at the geometry checks.
    Superblock bad = geometry(kDefaultBlockSize, kDefaultBucketSize, 1000);
    bad.first_bucket = 0;
    superblock_seed(dir, "resealed_bad_first_bucket", 1, bad);
}

void record_seed(const fs::path& dir, std::string_view name, RecordKind kind, std::string_view bytes,
                 RecordFraming framing = RecordFraming::raw) {
    std::string seed(1, static_cast<char>(record_selector(kind, framing)));
    seed += bytes;
    write_file(dir / "corpus" / "index_records" / name, seed);
}

void index_record_seeds(const fs::path& dir) {
    record_seed(dir, "extent_key", RecordKind::extent_key, encode_extent_key({7, 1 << 20}));
    const ExtentValue extent = make_extent_value(64 << 10, 0, 12, 3, 4096, 0xdeadbeef, false);
    record_seed(dir, "extent_value", RecordKind::extent_value, encode_extent_value(extent));
    ExtentValue trimmed = slice_extent_value(make_extent_value(1 << 20, 1, 99, 200, 1 << 16, 0x1234, true), 4096, 8192);
    record_seed(dir, "extent_value_trimmed_dirty", RecordKind::extent_value, encode_extent_value(trimmed));
    ExtentValue replicated = trimmed;
    replicated.replica = ExtentPtr{0, 17, 5, (17u << 11) + 8};
    record_seed(dir, "extent_value_two_copies", RecordKind::extent_value, encode_extent_value(replicated));
    // The framed form: the target adds the version byte and the checksum.
    const std::string body = encode_extent_value(extent);
    record_seed(dir, "extent_value_framed", RecordKind::extent_value, std::string_view(body).substr(0, body.size() - 4),
                RecordFraming::framed);
    record_seed(dir, "file_key", RecordKind::file_key, encode_file_key(2049, 131077));
    const FileRecord file{
        42, 1 << 20, 1'700'000'000'000'000'001, 1'700'000'000'000'000'002, 1'600'000'000'000'000'003, kFilePinned, 0};
    record_seed(dir, "file_record", RecordKind::file_record, encode_file_record(file));
    record_seed(dir, "dirty_file_key", RecordKind::dirty_file_key, encode_dirty_file_key(42));
    const DirtyFileRecord dirty{2049, 131077, 1'600'000'000'000'000'003, 1,
                                std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8)};
    record_seed(dir, "dirty_file_record", RecordKind::dirty_file_record, encode_dirty_file_record(dirty).value());
    record_seed(dir, "bucket_key", RecordKind::bucket_key, encode_bucket_key(0, 4096));
    record_seed(dir, "bucket_value", RecordKind::bucket_value, encode_bucket_value({4096, 17, 32768}));
    record_seed(dir, "meta_u64", RecordKind::meta_u64, encode_meta_u64(kIndexFormatVersion));
    record_seed(dir, "meta_uuid", RecordKind::meta_uuid,
                encode_meta_uuid({0x5e, 0xed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}));
}

void option_seed(const fs::path& dir, std::string_view name, std::initializer_list<std::string_view> args) {
    std::string seed;
    for (std::string_view arg : args) {
        if (!seed.empty()) seed.push_back('\0');
        seed += arg;
    }
    write_file(dir / "corpus" / "mount_options" / name, seed);
}

void mount_option_seeds(const fs::path& dir) {
    option_seed(dir, "minimal", {"/srv/slow", "/mnt/fast", "-o", "cache=/dev/nvme0n1p3"});
    option_seed(dir, "writeback",
                {"/srv/slow", "/mnt/fast", "-f", "-o",
                 "cache=/var/cache/slow.cache,cache_size=1G,mode=writeback,writeback_percent=20,"
                 "writeback_delay=5,writeback_rate_minimum=64K,cutoff_writeback=50,cutoff_writeback_sync=80"});
    option_seed(dir, "fstab",
                {"/srv/slow", "/mnt/fast", "-o",
                 "defaults,_netdev,x-systemd.automount,cache=/dev/sdb1,allow_other,default_permissions,noatime,"
                 "nodiscard,kernel_cache,entry_timeout=0,attr_timeout=0.5,replacement=fifo,comment=cache"});
    option_seed(dir, "promotion",
                {"-d", "-ocache=c,promote=nhit,promote_hits=3,promote_trigger_percent=90,fsname=a\\,b\\\\c,subtype=x",
                 "--", "-src", "mnt"});
    option_seed(dir, "help", {"--help"});
}

// Option names, with '=' where they take a value, and the words values use.
void mount_option_dictionary(const fs::path& dir) {
    std::string dict = "# Generated by make_seeds from mount_option_table().\n";
    auto add = [&](std::string_view token) {
        dict += '"';
        for (char c : token) {
            if (c == '"' || c == '\\') dict += '\\';
            dict += c;
        }
        dict += "\"\n";
    };
    for (const OptionSpec& spec : mount_option_table()) {
        std::string name(spec.name);
        if (name == "x-*") name = "x-";
        add(spec.value_name.empty() ? name : name + "=");
        if (spec.kind == OptionKind::boolean) add("no" + name);
    }
    for (std::string_view word :
         {"writethrough", "writeback", "writearound", "none", "always", "nhit", "lru", "fifo", "random", "yes",
          "no",           "on",        "off",         "true", "false",  "K",    "M",   "G",    "T",      "iB",
          "\\,",          "\\\\",      ",",           "-o",   "-f",     "-d",   "--",  "-h",   "-V"})
        add(word);
    write_file(dir / "mount_options.dict", dict);
}

}  // namespace
}  // namespace bcl

namespace bcl {
namespace {

// Read grants as a mount saves them: none, and two files, one with two
// callers (one with supplementary groups).
void read_grant_seeds(const fs::path& dir) {
    write_file(dir / "corpus" / "read_grants" / "none", ReadGrants().save());
    ReadGrants grants;
    struct statx stx {};
    stx.stx_mask = STATX_BASIC_STATS | STATX_BTIME;
    stx.stx_mode = S_IFREG | 0644;
    stx.stx_nlink = 1;
    stx.stx_size = 4096;
    stx.stx_mtime.tv_sec = 1700000000;
    stx.stx_ctime = stx.stx_mtime;
    grants.add(FileKey{2049, 12}, CallerId{1000, 1000, {1000, 27}}, ReadGrants::Grant{stx, 1});
    grants.add(FileKey{2049, 12}, CallerId{0, 0, {}}, ReadGrants::Grant{stx, 2});
    stx.stx_size = 0;
    grants.add(FileKey{2049, 13}, CallerId{1000, 1000, {}}, ReadGrants::Grant{stx, 3});
    write_file(dir / "corpus" / "read_grants" / "three", grants.save());
}

}  // namespace
}  // namespace bcl

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s TEST_FUZZ_DIR\n", argv[0]);
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    bcl::superblock_seeds(dir);
    bcl::index_record_seeds(dir);
    bcl::mount_option_seeds(dir);
    bcl::mount_option_dictionary(dir);
    bcl::read_grant_seeds(dir);
    return 0;
}
