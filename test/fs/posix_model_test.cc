// End-to-end: seed-deterministic random sequences of file operations
// (posix_model.h) through a mount in every mode (and with identity=path,
// where each name is a file of its own to the cache), and on a plain directory
// of the machine's file system to check the model itself; every result and
// the final contents, in the backing directory after a remount (and a
// flush in writeback), must match the model.
//
// The suite runs kSeeds seeds of kOperations operations; bench/model_soak
// runs more through BCL_MODEL_SEEDS and BCL_MODEL_OPERATIONS.
#include <cstdlib>

#include "cache_e2e.h"
#include "posix_model.h"

namespace bcl::test {
namespace {

constexpr std::uint64_t kSeeds = 3;
constexpr std::uint64_t kOperations = 600;

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

std::string report(const ModelResult& r) {
    std::string out;
    for (const auto& m : r.mismatches) out += "mismatch " + m + "\n";
    const std::size_t from = r.log.size() > 40 ? r.log.size() - 40 : 0;
    out += "the last operations:\n";
    for (std::size_t i = from; i < r.log.size(); ++i) out += "  " + r.log[i] + "\n";
    return out;
}

class PosixModelTest : public testing::TestWithParam<const char*> {};

TEST_P(PosixModelTest, RandomSequencesMatchTheModel) {
    if (std::string why = e2e_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    // A mode, and maybe more options after it (identity=path).
    const std::string mode = GetParam();
    const std::uint64_t seeds = env_or("BCL_MODEL_SEEDS", kSeeds);
    const std::uint64_t ops = env_or("BCL_MODEL_OPERATIONS", kOperations);
    std::uint64_t total = 0;
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        ModelOptions o;
        o.seed = seed;
        o.operations = ops;
        if (mode == "ext4") {
            TempDir dir;
            const ModelResult r = run_posix_model(dir.path(), o);
            total += r.operations;
            ASSERT_TRUE(r.mismatches.empty()) << report(r);
            continue;
        }
        MountSpec spec;
        spec.options = "allow_other,entry_timeout=0,attr_timeout=0,mode=" + mode;
        TestMount t(spec);
        ASSERT_TRUE(t.mounted()) << t.error();
        o.final_dir = t.backing();
        o.after_close = [&] {
            ASSERT_TRUE(t.stop().has_value());
            ASSERT_TRUE(t.start()) << t.error();
            if (mode == "writeback") {
                RunResult flushed = run_flush_command(t.mnt());
                ASSERT_EQ(flushed.exit_code(), 0) << flushed.err;
            }
        };
        const ModelResult r = run_posix_model(t.mnt(), o);
        total += r.operations;
        ASSERT_TRUE(r.mismatches.empty()) << report(r) << t.daemon_log();
    }
    RecordProperty("operations", static_cast<int>(total));
    std::printf("%s: %llu operations over %llu seeds, 0 mismatches\n", mode.c_str(),
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(seeds));
}

INSTANTIATE_TEST_SUITE_P(EveryModeAndExt4, PosixModelTest,
                         testing::Values("ext4", "writethrough", "writeback", "writearound", "none",
                                         "writethrough,identity=path", "writearound,identity=path"));

}  // namespace
}  // namespace bcl::test
