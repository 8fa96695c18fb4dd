// bcachefs-lite-ctl format and show on regular files.
#include <gtest/gtest.h>

// property_tree pulls in boost/bind.hpp, which warns unless told which
// placeholders to use.
#define BOOST_BIND_GLOBAL_PLACEHOLDERS
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "bcachefs_lite/device/format.h"
#include "bcachefs_lite/device/superblock.h"
#include "ctl_runner.h"
#include "common/temp_dir.h"

namespace bcl::test {
namespace {

class CtlTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_FALSE(ctl_path().empty()) << "BCL_CTL is not set"; }
    TempDir dir_;
};

boost::property_tree::ptree parse_json(const std::string& text) {
    std::istringstream in(text);
    boost::property_tree::ptree tree;
    boost::property_tree::read_json(in, tree);
    return tree;
}

TEST_F(CtlTest, FormatThenShow) {
    const std::string img = dir_.file("cache.img");
    RunResult f = ctl({"format", img, "--size", "256M", "--bucket-size", "1M", "--block-size", "8k", "--replacement",
                       "fifo", "--discard"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_TRUE(f.err.empty()) << f.err;
    EXPECT_NE(f.out.find("1MiB (1048576 bytes)"), std::string::npos) << f.out;

    RunResult j = ctl({"show", img, "--json"});
    ASSERT_EQ(j.exit_code, 0) << j.err;
    auto t = parse_json(j.out);
    EXPECT_EQ(t.get<std::string>("device"), img);
    EXPECT_EQ(t.get<int>("version"), 1);
    EXPECT_EQ(t.get<std::uint64_t>("block_size"), 8192u);
    EXPECT_EQ(t.get<std::uint64_t>("bucket_size"), 1u << 20);
    EXPECT_EQ(t.get<std::uint64_t>("nbuckets"), 256u);
    EXPECT_EQ(t.get<std::uint64_t>("first_bucket"), 1u);
    EXPECT_EQ(t.get<std::uint64_t>("usable_buckets"), 255u);
    EXPECT_EQ(t.get<std::uint64_t>("capacity"), 255ull << 20);
    EXPECT_EQ(t.get<std::string>("replacement"), "fifo");
    EXPECT_EQ(t.get<std::string>("discard"), "true");
    EXPECT_GT(t.get<std::uint64_t>("created"), 0u);
    const std::string uuid = t.get<std::string>("uuid");
    EXPECT_TRUE(parse_uuid(uuid));
    EXPECT_NE(f.out.find(uuid), std::string::npos) << "format printed another UUID:\n" << f.out;

    RunResult s = ctl({"show", img});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    for (const std::string& want : {"uuid:          " + uuid, std::string("version:       1"),
                                    std::string("buckets:       256 total, first 1, 255 usable"),
                                    std::string("replacement:   fifo"), std::string("discard:       yes")})
        EXPECT_NE(s.out.find(want), std::string::npos) << want << " missing in\n" << s.out;

    struct stat st {};
    ASSERT_EQ(::stat(img.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 256ll << 20);
    EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the file should stay sparse";
}

TEST_F(CtlTest, FormatOfSeveralDevicesMakesOneSet) {
    const std::string a = dir_.file("a.img"), b = dir_.file("b.img");
    RunResult f = ctl({"format", a, b, "--size", "64M", "--bucket-size", "256k"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    std::string set_uuid;
    for (unsigned i = 0; i < 2; ++i) {
        RunResult j = ctl({"show", i == 0 ? a : b, "--json"});
        ASSERT_EQ(j.exit_code, 0) << j.err;
        auto t = parse_json(j.out);
        EXPECT_EQ(t.get<unsigned>("nr_in_set"), 2u);
        EXPECT_EQ(t.get<unsigned>("dev_idx"), i);
        EXPECT_NE(t.get<std::string>("set_uuid"), t.get<std::string>("uuid"));
        if (i == 0)
            set_uuid = t.get<std::string>("set_uuid");
        else
            EXPECT_EQ(t.get<std::string>("set_uuid"), set_uuid);
        EXPECT_NE(f.out.find(t.get<std::string>("uuid")), std::string::npos) << f.out;
    }
    EXPECT_NE(f.out.find("device 1 of 2"), std::string::npos) << f.out;
    // One device alone is a set of one named by its own UUID.
    const std::string c = dir_.file("c.img");
    ASSERT_EQ(ctl({"format", c, "--size", "64M"}).exit_code, 0);
    auto t = parse_json(ctl({"show", c, "--json"}).out);
    EXPECT_EQ(t.get<unsigned>("nr_in_set"), 1u);
    EXPECT_EQ(t.get<std::string>("set_uuid"), t.get<std::string>("uuid"));
    // The same file twice: refused in one line, nothing created.
    const std::string d = dir_.file("d.img");
    RunResult twice = ctl({"format", d, d, "--size", "64M"});
    EXPECT_NE(twice.exit_code, 0);
    EXPECT_NE(twice.err.find("given twice"), std::string::npos) << twice.err;
    EXPECT_EQ(twice.err.find('\n'), twice.err.size() - 1) << twice.err;
    EXPECT_NE(::access(d.c_str(), F_OK), 0);
}

TEST_F(CtlTest, DefaultsAndForcedReformat) {
    const std::string img = dir_.file("cache.img");
    ASSERT_EQ(ctl({"format", img, "--size", "64M"}).exit_code, 0);
    auto first = parse_json(ctl({"show", "--json", img}).out);
    EXPECT_EQ(first.get<std::uint64_t>("bucket_size"), 512u << 10);
    EXPECT_EQ(first.get<std::uint64_t>("block_size"), 4096u);
    EXPECT_EQ(first.get<std::string>("replacement"), "lru");
    EXPECT_EQ(first.get<std::string>("discard"), "false");

    expect_refused({"format", img}, img, 1,
                   "already holds a bcachefs-lite cache (UUID " + first.get<std::string>("uuid") + ")");
    RunResult again = ctl({"format", img, "--force", "--replacement", "random"});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    auto second = parse_json(ctl({"show", "--json", img}).out);
    EXPECT_NE(second.get<std::string>("uuid"), first.get<std::string>("uuid"));
    EXPECT_EQ(second.get<std::string>("replacement"), "random");
}

TEST_F(CtlTest, BadOptionsAreUsageErrorsAndChangeNothing) {
    const std::string img = dir_.file("dev.img");
    ASSERT_TRUE(make_sparse_file(img, 64 << 20));
    expect_refused({"format", img, "--bucket-size", "3k"}, img, 2, "power of two");
    expect_refused({"format", img, "--bucket-size", "16M"}, img, 2, "larger than the maximum");
    expect_refused({"format", img, "--bucket-size", "4k", "--block-size", "8k"}, img, 2, "smaller than the block size");
    expect_refused({"format", img, "--block-size", "256"}, img, 2, "block size 256");
    expect_refused({"format", img, "--block-size", "128k", "--bucket-size", "1M"}, img, 2, "block size 131072");
    expect_refused({"format", img, "--bucket-size", "12q"}, img, 2, "invalid bucket size '12q'");
    expect_refused({"format", img, "--replacement", "clock"}, img, 2, "clock");
    expect_refused({"format", img, "--frobnicate"}, img, 2, "--frobnicate");
    expect_refused({"frobnicate", img}, img, 2, "unknown command 'frobnicate'");
    expect_refused({"format"}, img, 2, "DEV");
    expect_refused({"show"}, img, 2, "DEV");
    expect_refused({}, img, 2, "subcommand");
}

TEST_F(CtlTest, OperationalRefusalsChangeNothing) {
    const std::string img = dir_.file("small.img");
    ASSERT_TRUE(make_sparse_file(img, 8 << 20));
    const std::string need = std::to_string(min_device_size(512 << 10));
    expect_refused({"format", img}, img, 1, "too small");
    expect_refused({"format", img}, img, 1, need + " bytes");

    const std::string other = dir_.file("other.img");
    ASSERT_TRUE(make_sparse_file(other, 64 << 20));
    expect_refused({"format", other, "--size", "128M"}, other, 1, "already exists with size");

    const std::string missing = dir_.file("missing.img");
    expect_refused({"format", missing}, missing, 1, missing + ": No such file or directory");
    EXPECT_NE(::access(missing.c_str(), F_OK), 0);
    expect_refused({"format", missing, "--size", "1M"}, missing, 1, "too small");
    EXPECT_NE(::access(missing.c_str(), F_OK), 0) << "a refused format left a file behind";

    expect_refused({"format", dir_.path()}, dir_.path(), 1, "is a directory");
    expect_refused({"show", dir_.path()}, dir_.path(), 1, "is a directory");
    expect_refused({"show", missing}, missing, 1, missing);
}

TEST_F(CtlTest, ShowRefusesForeignAndCorruptDevices) {
    const std::string img = dir_.file("dev.img");
    ASSERT_TRUE(make_sparse_file(img, 64 << 20));
    expect_refused({"show", img}, img, 1, "not a bcachefs-lite cache device");

    ASSERT_EQ(ctl({"format", img}).exit_code, 0);
    {
        // Flip one bit inside the superblock.
        FILE* f = std::fopen(img.c_str(), "r+b");
        ASSERT_NE(f, nullptr);
        ASSERT_EQ(std::fseek(f, static_cast<long>(kSuperblockOffset + 60), SEEK_SET), 0);
        int c = std::fgetc(f);
        ASSERT_EQ(std::fseek(f, static_cast<long>(kSuperblockOffset + 60), SEEK_SET), 0);
        std::fputc(c ^ 0x04, f);
        std::fclose(f);
    }
    expect_refused({"show", img}, img, 1, "corrupt superblock: checksum");
    // A damaged superblock is still ours: format wants --force.
    expect_refused({"format", img}, img, 1, "damaged bcachefs-lite superblock");
}

TEST_F(CtlTest, AnExt4SignatureIsRefusedUnlessForced) {
    const std::string mkfs = find_program("mkfs.ext4");
    if (mkfs.empty()) GTEST_SKIP() << "mkfs.ext4 is not installed";
    const std::string img = dir_.file("ext4.img");
    ASSERT_TRUE(make_sparse_file(img, 64 << 20));
    RunResult mk = run({mkfs, "-q", "-F", img});
    ASSERT_EQ(mk.exit_code, 0) << mk.err;

    expect_refused({"format", img}, img, 1, "ext4");
    RunResult forced = ctl({"format", img, "--force"});
    ASSERT_EQ(forced.exit_code, 0) << forced.err;
    // The old signature is gone, so nothing takes the cache for ext4.
    auto sigs = probe_signatures(img);
    ASSERT_TRUE(sigs) << sigs.error().message;
    for (const auto& s : sigs.value()) ADD_FAILURE() << "left behind: " << s.type << " at " << s.offset;
    EXPECT_EQ(ctl({"show", img}).exit_code, 0);
}

TEST_F(CtlTest, APartitionTableIsRefusedUnlessForced) {
    const std::string img = dir_.file("disk.img");
    ASSERT_TRUE(make_sparse_file(img, 64 << 20));
    {
        // A DOS partition table: one Linux partition from sector 2048.
        const unsigned char entry[16] = {0x00, 0x00, 0x02, 0x00, 0x83, 0x00, 0x00, 0x00,
                                         0x00, 0x08, 0x00, 0x00, 0xa0, 0x86, 0x01, 0x00};
        const unsigned char boot_sig[2] = {0x55, 0xaa};
        FILE* f = std::fopen(img.c_str(), "r+b");
        ASSERT_NE(f, nullptr);
        ASSERT_EQ(std::fseek(f, 446, SEEK_SET), 0);
        ASSERT_EQ(std::fwrite(entry, 1, sizeof entry, f), sizeof entry);
        ASSERT_EQ(std::fseek(f, 510, SEEK_SET), 0);
        ASSERT_EQ(std::fwrite(boot_sig, 1, sizeof boot_sig, f), sizeof boot_sig);
        ASSERT_EQ(std::fclose(f), 0);
    }
    auto before = probe_signatures(img);
    ASSERT_TRUE(before) << before.error().message;
    ASSERT_EQ(before.value().size(), 1u);
    EXPECT_EQ(before.value()[0].type, "dos");

    expect_refused({"format", img}, img, 1, "partition table signature (dos)");
    ASSERT_EQ(ctl({"format", img, "--force"}).exit_code, 0);
    auto after = probe_signatures(img);
    ASSERT_TRUE(after) << after.error().message;
    EXPECT_TRUE(after.value().empty());
}

TEST_F(CtlTest, VersionAndHelp) {
    RunResult v = ctl({"--version"});
    EXPECT_EQ(v.exit_code, 0);
    EXPECT_EQ(v.out.rfind("bcachefs-lite-ctl ", 0), 0u) << v.out;
    RunResult h = ctl({"--help"});
    EXPECT_EQ(h.exit_code, 0);
    EXPECT_NE(h.out.find("format"), std::string::npos);
    EXPECT_NE(h.out.find("show"), std::string::npos);
    RunResult fh = ctl({"format", "--help"});
    EXPECT_EQ(fh.exit_code, 0);
    EXPECT_NE(fh.out.find("--bucket-size"), std::string::npos);
}

}  // namespace
}  // namespace bcl::test
