// End-to-end: pinning through the mount. Root pins a directory with
// setfattr; what it held is fetched in the background and what is created
// below it afterwards is pinned at birth; user.bcachefs_lite.pinned on a
// file and pinned_bytes on the root show it. Anyone else gets EPERM, a bad
// value EINVAL, and a file bigger than pin_limit_percent allows ENOSPC.
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "cache_e2e.h"

namespace bcl::test {
namespace {

class PinningE2eTest : public CacheMountTest {
protected:
    MountSpec mount_spec() const override {
        MountSpec spec = CacheMountTest::mount_spec();
        spec.options += ",pin_limit_percent=10";  // 6.4M of the 64M cache
        return spec;
    }
    std::optional<std::uint64_t> pinned_of(const std::string& rel) {
        auto v = get_xattr(m(rel), attr("pinned"));
        return v ? parse_stat(*v) : std::nullopt;
    }
    bool fully_pinned(const std::string& rel, std::uint64_t size) {
        return wait_until([&] { return pinned_of(rel) == size; });
    }
};

TEST_F(PinningE2eTest, APinnedDirectoryFetchesWhatItHoldsAndPinsWhatIsCreatedBelowIt) {
    std::mt19937_64 rng(9);
    ASSERT_EQ(::mkdir(m("d").c_str(), 0755), 0) << std::strerror(errno);
    const std::string old_data = random_bytes(rng, 300000);
    put_backing("d/old", old_data);
    EXPECT_EQ(get_xattr(m("d"), attr("pin")), "0");

    ASSERT_EQ(set_xattr(m("d"), attr("pin"), "1"), 0);
    EXPECT_EQ(get_xattr(m("d"), attr("pin")), "1");
    EXPECT_TRUE(fully_pinned("d/old", old_data.size())) << "the walk pins and fetches what the directory holds";
    EXPECT_EQ(get_xattr(m("d/old"), attr("pin")), "1");

    ASSERT_EQ(::mkdir(m("d/sub").c_str(), 0755), 0);
    EXPECT_EQ(get_xattr(m("d/sub"), attr("pin")), "1") << "a directory created below is pinned";
    const std::string new_data = random_bytes(rng, 200000);
    ASSERT_TRUE(write_file(m("d/sub/new"), new_data));
    EXPECT_EQ(get_xattr(m("d/sub/new"), attr("pin")), "1") << "so is a file created below that";
    expect_mount_reads("d/sub/new", new_data);
    EXPECT_TRUE(fully_pinned("d/sub/new", new_data.size()));
    auto total = stat_xattr(t().mnt(), "pinned_bytes");
    ASSERT_TRUE(total.has_value());
    EXPECT_GE(*total, old_data.size() + new_data.size());

    // Every read of pinned data hits.
    const std::uint64_t backing_before = stats()["bytes_read_backing"];
    expect_mount_reads("d/old", old_data);
    EXPECT_EQ(stats()["bytes_read_backing"], backing_before);

    ASSERT_EQ(set_xattr(m("d/old"), attr("pin"), "0"), 0);
    EXPECT_EQ(get_xattr(m("d/old"), attr("pin")), "0");
    EXPECT_EQ(pinned_of("d/old"), 0u);
}

TEST_F(PinningE2eTest, OnlyRootPinsAndTheLimitAndBadValuesAreRefused) {
    std::mt19937_64 rng(10);
    put_backing("small", random_bytes(rng, 100000));
    put_backing("big", random_bytes(rng, 8 << 20));
    ASSERT_EQ(::symlink("small", b("link").c_str()), 0);
    ASSERT_EQ(::chmod(t().mnt().c_str(), 0777), 0) << std::strerror(errno);
    // Writable by all, so that default_permissions lets the request reach the daemon.
    ASSERT_EQ(::chmod(b("small").c_str(), 0666), 0) << std::strerror(errno);

    const int as_nobody = run_as(kNobody, kNogroup, [&] {
        if (get_xattr(m("small"), attr("pin")) != "0") return 10;
        if (set_xattr(m("small"), attr("pin"), "1") != EPERM) return 11;
        if (set_xattr(m("small"), attr("pinned"), "1") != EPERM) return 12;
        return 0;
    });
    EXPECT_EQ(as_nobody, 0) << "10: unreadable, 11: pinned by someone else than root, 12: pinned set";
    EXPECT_EQ(get_xattr(m("small"), attr("pin")), "0");

    EXPECT_EQ(set_xattr(m("small"), attr("pin"), "2"), EINVAL);
    EXPECT_EQ(set_xattr(m("small"), attr("pin"), "yes"), EINVAL);
    EXPECT_EQ(get_xattr(m("small"), attr("pin")), "0");
    EXPECT_EQ(get_xattr(t().mnt(), attr("pin_limit_percent")), "10");

    EXPECT_EQ(set_xattr(m("big"), attr("pin"), "1"), ENOSPC) << "8M past 10% of 64M";
    EXPECT_EQ(get_xattr(m("big"), attr("pin")), "0");
    EXPECT_EQ(set_xattr(m("small"), attr("pin"), "1\n"), 0);
    EXPECT_TRUE(fully_pinned("small", 100000));

    ASSERT_EQ(set_xattr(t().mnt(), attr("pin_limit_percent"), "20"), 0);
    EXPECT_EQ(set_xattr(m("big"), attr("pin"), "1"), 0);
    EXPECT_TRUE(fully_pinned("big", 8 << 20));
}

}  // namespace
}  // namespace bcl::test
