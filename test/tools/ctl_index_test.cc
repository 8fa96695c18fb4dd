// bcachefs-lite-ctl index list | prune over an index root made here: caches
// formatted by bcachefs-lite-ctl and opened once through the engine (which
// records where they are), one of them deleted; prune removes exactly the
// index of the deleted one, and never one that is present, mounted, not an
// index, or whose state is unknown unless named with --force.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bcachefs_lite/cache/cache_set.h"
#include "bcachefs_lite/device/cache_device.h"
#include "bcachefs_lite/index/index.h"
#include "common/temp_dir.h"
#include "ctl_runner.h"

namespace bcl::test {
namespace {

namespace fs = std::filesystem;

class CtlIndexTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(ctl_path().empty()) << "BCL_CTL is not set";
        root_ = dir_.file("root");
        ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
    }
    void TearDown() override {
        if (set_) {
            EXPECT_TRUE(set_->close());
        }
        set_.reset();
    }

    // Formats dir/NAME.img; its UUID.
    std::string format(const std::string& name) {
        const std::string img = dir_.file(name + ".img");
        RunResult f = ctl({"format", img, "--size", "64M", "--bucket-size", "256k"});
        EXPECT_EQ(f.exit_code, 0) << f.err;
        FileDeviceOptions fo;
        fo.read_only = true;
        auto dev = CacheDevice::open(img, fo);
        EXPECT_TRUE(dev) << (dev ? "" : dev.error().message);
        return dev ? uuid_to_string(dev.value()->superblock().uuid) : std::string();
    }
    std::string img(const std::string& name) const { return dir_.file(name + ".img"); }
    std::string index_of(const std::string& uuid) const { return root_ + "/" + uuid; }

    // Opens the cache through the engine with its index under the root, as
    // a mount does; kept open (mounted) until close_set().
    void open_set(const std::string& name, const std::string& uuid) {
        CacheSetOptions o;
        o.cache_paths = {img(name)};
        o.index_dir = index_of(uuid);
        o.manual_background = true;
        o.gc_interval = std::chrono::milliseconds(0);
        auto set = CacheSet::open(std::move(o), log_);
        ASSERT_TRUE(set) << set.error().message;
        set_ = std::move(set).value();
    }
    void close_set() {
        ASSERT_TRUE(set_);
        ASSERT_TRUE(set_->close());
        set_.reset();
    }
    // Formats a cache and opens and closes it once; its UUID.
    std::string mounted_once(const std::string& name) {
        const std::string uuid = format(name);
        open_set(name, uuid);
        close_set();
        return uuid;
    }

    RunResult list() { return ctl({"index", "list", "--root", root_}); }
    RunResult prune(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"index", "prune", "--root", root_};
        args.insert(args.end(), extra.begin(), extra.end());
        return ctl(args);
    }

    // The STATE column of the line of `label` in list's output.
    static std::string state_in(const std::string& out, const std::string& label) {
        std::istringstream lines(out);
        for (std::string line; std::getline(lines, line);) {
            std::istringstream words(line);
            std::string first, state;
            words >> first >> state;
            if (first == label) return state;
        }
        return "(not listed)";
    }
    std::string state_of(const std::string& label) {
        RunResult r = list();
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_TRUE(r.err.empty()) << r.err;
        return state_in(r.out, label);
    }

    // Name and size of every file in dir, to show nothing was written.
    static std::map<std::string, std::uintmax_t> contents(const std::string& dir) {
        std::map<std::string, std::uintmax_t> files;
        for (const auto& e : fs::recursive_directory_iterator(dir))
            files[e.path().string()] = e.is_regular_file() ? e.file_size() : 0;
        return files;
    }

    static void expect_one_error_line(const RunResult& r, const std::string& needle) {
        EXPECT_EQ(r.err.rfind("bcachefs-lite-ctl: ", 0), 0u) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in " << r.err;
    }

    TempDir dir_;
    std::string root_;
    Logger log_{LogLevel::warn};
    std::unique_ptr<CacheSet> set_;
};

TEST_F(CtlIndexTest, ListShowsPresentAndGoneWithTheRecordedPathsAndChangesNothing) {
    const std::string a = mounted_once("a");
    const std::string b = mounted_once("b");
    ASSERT_EQ(::unlink(img("b").c_str()), 0);
    const auto before_a = contents(index_of(a));
    const auto before_b = contents(index_of(b));

    RunResult r = list();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(state_in(r.out, a), "present") << r.out;
    EXPECT_EQ(state_in(r.out, b), "gone") << r.out;
    EXPECT_NE(r.out.find(img("a")), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(img("b")), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find(" - "), std::string::npos) << "both have a last mount time:\n" << r.out;

    r = ctl({"index", "list", "--root", root_, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_NE(r.out.find("{\"name\":\"" + a + "\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"state\":\"present\",\"bytes\":"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"state\":\"gone\",\"bytes\":"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"cache_paths\":[\"" + img("b") + "\"]"), std::string::npos) << r.out;

    EXPECT_EQ(contents(index_of(a)), before_a) << "list wrote into an index";
    EXPECT_EQ(contents(index_of(b)), before_b) << "list wrote into an index";
}

TEST_F(CtlIndexTest, PruneRemovesExactlyTheGoneIndexAndDryRunNothing) {
    const std::string a = mounted_once("a");
    const std::string b = mounted_once("b");
    ASSERT_EQ(::mkdir((root_ + "/not-an-index").c_str(), 0755), 0);
    { std::ofstream(root_ + "/not-an-index/file") << "keep me"; }
    ASSERT_EQ(::unlink(img("b").c_str()), 0);

    RunResult r = prune({"--dry-run"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("would remove " + b, 0), 0u) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_TRUE(fs::exists(index_of(b))) << "--dry-run removed it";

    r = prune();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("removed " + b, 0), 0u) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_FALSE(fs::exists(index_of(b)));
    EXPECT_TRUE(fs::exists(index_of(a) + "/CURRENT"));
    EXPECT_TRUE(fs::exists(root_ + "/not-an-index/file"));
    EXPECT_EQ(std::distance(fs::directory_iterator(root_), fs::directory_iterator()), 2);

    r = prune();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("nothing to remove"), std::string::npos) << r.out;
    EXPECT_EQ(state_of(a), "present");

    // The present cache opens with its index as before.
    open_set("a", a);
    close_set();
}

TEST_F(CtlIndexTest, NamedIndexesThatAreNotGoneAreRefusedOneLineEach) {
    const std::string a = mounted_once("a");
    const std::string b = mounted_once("b");
    ASSERT_EQ(::unlink(img("b").c_str()), 0);
    ASSERT_EQ(::mkdir((root_ + "/junk").c_str(), 0755), 0);
    { std::ofstream(root_ + "/junk/file") << "keep me"; }
    { std::ofstream(root_ + "/plain-file") << "keep me"; }

    RunResult r = prune({a});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    expect_one_error_line(r, "present");
    for (const std::string& name : {std::string("junk"), std::string("plain-file")}) {
        r = prune({name, "--force"});
        EXPECT_EQ(r.exit_code, 1) << r.err;
        expect_one_error_line(r, "not an index");
    }
    r = prune({"00000000-0000-0000-0000-000000000001"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    expect_one_error_line(r, "no index");
    EXPECT_TRUE(fs::exists(index_of(a) + "/CURRENT"));
    EXPECT_TRUE(fs::exists(root_ + "/junk/file"));
    EXPECT_TRUE(fs::exists(root_ + "/plain-file"));
    EXPECT_EQ(state_of("junk"), "not-an-index");
    EXPECT_EQ(state_of("plain-file"), "not-an-index");

    // A refused name does not stop the others; the exit code says it.
    r = prune({a, b});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    expect_one_error_line(r, "present");
    EXPECT_EQ(r.out.rfind("removed " + b, 0), 0u) << r.out;
    EXPECT_FALSE(fs::exists(index_of(b)));
    EXPECT_TRUE(fs::exists(index_of(a) + "/CURRENT"));
}

TEST_F(CtlIndexTest, AMountedIndexIsListedMountedAndNeverRemoved) {
    const std::string a = format("a");
    open_set("a", a);
    // Even with its cache file gone from its path, it is in use.
    ASSERT_EQ(::unlink(img("a").c_str()), 0);
    EXPECT_EQ(state_of(a), "mounted");
    RunResult r = prune();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("nothing to remove"), std::string::npos) << r.out;
    r = prune({a, "--force"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    expect_one_error_line(r, "in use");
    EXPECT_TRUE(fs::exists(index_of(a) + "/CURRENT"));
    // The mount goes on undisturbed and closes cleanly.
    close_set();
    EXPECT_EQ(state_of(a), "gone");
}

TEST_F(CtlIndexTest, AnIndexWithoutAMountRecordIsUnknownAndGoesOnlyNamedWithForce) {
    // An index as an older program left it: no record of where its cache was.
    const std::string a = format("a");
    {
        IndexOptions io;
        io.create_if_missing = true;
        io.cache_uuid = parse_uuid(a).value();
        auto index = Index::open(index_of(a), io);
        ASSERT_TRUE(index) << index.error().message;
    }
    ASSERT_EQ(::unlink(img("a").c_str()), 0);
    EXPECT_EQ(state_of(a), "unknown");

    RunResult r = prune();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(index_of(a) + "/CURRENT"));
    r = prune({a});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    expect_one_error_line(r, "--force");
    EXPECT_TRUE(fs::exists(index_of(a) + "/CURRENT"));
    r = prune({a, "--force", "--dry-run"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(index_of(a) + "/CURRENT"));
    r = prune({a, "--force"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("removed " + a, 0), 0u) << r.out;
    EXPECT_FALSE(fs::exists(index_of(a)));
}

TEST_F(CtlIndexTest, AnIndexWhoseRecordedPathHoldsAnotherCacheIsGone) {
    const std::string a = mounted_once("a");
    ASSERT_EQ(::unlink(img("a").c_str()), 0);
    const std::string other = format("a");  // a new cache at the same path
    ASSERT_NE(other, a);
    EXPECT_EQ(state_of(a), "gone");
}

TEST_F(CtlIndexTest, CommandLineErrorsExit2AndAMissingRootIsEmpty) {
    for (const std::vector<std::string>& args : {std::vector<std::string>{"index"},
                                                 {"index", "bogus"},
                                                 {"index", "list", "--bogus"},
                                                 {"index", "prune", "--force"}}) {
        RunResult r = ctl(args);
        EXPECT_EQ(r.exit_code, 2) << args.back() << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
    const std::string missing = dir_.file("no-such-root");
    RunResult r = ctl({"index", "list", "--root", missing, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("\"indexes\":[]"), std::string::npos) << r.out;
    r = ctl({"index", "prune", "--root", missing});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(missing));
}

}  // namespace
}  // namespace bcl::test
