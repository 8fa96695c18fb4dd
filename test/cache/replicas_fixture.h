// Fixture of the tests of a cache set of two devices (replicas_test.cc,
// replicas_degraded_test.cc): the devices made, formatted and opened as a
// set, with faults injectable on either.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include <set>

#include "bcachefs_lite/device/faulty_device.h"
#include "bcachefs_lite/device/file_device.h"
#include "bcachefs_lite/device/mem_device.h"
#include "bcachefs_lite/util/aligned_buffer.h"
#include "cache_fixture.h"

namespace bcl::test {

inline constexpr std::uint64_t kSetBuckets = 96;

inline std::unique_ptr<MemDevice> mem_device(const std::string& name, std::uint64_t buckets = kSetBuckets) {
    return std::make_unique<MemDevice>((first_bucket_for(kTestBucketSize) + buckets) * kTestBucketSize, 4096, name);
}

inline FormatOptions set_format() {
    FormatOptions fo;
    fo.bucket_size = kTestBucketSize;
    fo.block_size = kTestBlockSize;
    return fo;
}

class ReplicasTest : public CacheTest {
protected:
    void SetUp() override {
        CacheTest::SetUp();
        ASSERT_TRUE(open_backing_root());
    }
    // Two MemDevices formatted as one set, behind fault injection.
    void make_set() { make_set_of(kSetBuckets); }
    void make_set_of(std::uint64_t buckets) {
        auto a = mem_device("mem0", buckets);
        auto b = mem_device("mem1", buckets);
        auto sbs = format_block_device_set({a.get(), b.get()}, set_format());
        ASSERT_TRUE(sbs) << sbs.error().message;
        auto fa = std::make_unique<FaultyDevice>(std::move(a));
        auto fb = std::make_unique<FaultyDevice>(std::move(b));
        faults_[0] = fa.get();
        faults_[1] = fb.get();
        devices_.clear();
        devices_.push_back(std::move(fa));
        devices_.push_back(std::move(fb));
    }
    CacheSetOptions set_options(unsigned replicas, bool writeback = true) {
        CacheSetOptions o = options();
        o.cache_paths.clear();
        for (auto& d : devices_) o.devices.push_back(std::move(d));
        devices_.clear();
        o.replicas = replicas;
        replicas_ = replicas;
        o.backing_root_fd = root_fd_;
        if (writeback) o.tunables.mode = CacheMode::writeback;
        // Written back only when a test asks.
        o.tunables.writeback.writeback_running = false;
        return o;
    }
    void open_replicated(unsigned replicas, bool writeback = true) {
        make_set();
        open_set(set_options(replicas, writeback));
    }
    // Closes the set and opens it again over the same devices.
    void reopen_replicated() {
        const unsigned replicas = replicas_;
        auto st = set_->close();
        ASSERT_TRUE(st) << st.error().message;
        // The set owns the devices: take the memory images back out.
        std::vector<std::unique_ptr<BlockDevice>> copies;
        for (unsigned d = 0; d < 2; ++d) {
            const BlockDevice& dev = set_->device(d).device();
            auto copy = std::make_unique<MemDevice>(dev.size(), 4096, dev.path());
            AlignedBuffer buf(dev.size(), 4096);
            ASSERT_TRUE(set_->device(d).device().read(0, buf.span()));
            ASSERT_TRUE(copy->write(0, buf.span()));
            auto faulty = std::make_unique<FaultyDevice>(std::move(copy));
            faults_[d] = faulty.get();
            copies.push_back(std::move(faulty));
        }
        set_.reset();
        devices_ = std::move(copies);
        open_set(set_options(replicas));
    }
    // Four files written a block-aligned piece at a time, each followed by
    // fsync, with device 0 failing (writes, reads, flushes) after half of
    // them; writeback stays off until then, so dirty data piles up on both
    // devices. Returns each file's contents as the writes that returned
    // left them.
    std::vector<std::string> run_failing_workload() {
        constexpr int kFiles = 4;
        constexpr int kPieces = 8;
        const std::size_t piece = 3 * kTestBlockSize;
        std::vector<std::string> model(kFiles);
        std::vector<std::unique_ptr<EngineFile>> files;
        for (int i = 0; i < kFiles; ++i) {
            write_whole(path(fmt::format("f{}", i)), "");
            files.push_back(std::make_unique<EngineFile>(*set_, path(fmt::format("f{}", i))));
        }
        for (int p = 0; p < kPieces; ++p) {
            if (p == kPieces / 2) {
                for (IoKind kind : {IoKind::write, IoKind::read, IoKind::flush})
                    faults_[0]->add_fault(FaultRule{.kind = kind});
            }
            for (int i = 0; i < kFiles; ++i) {
                EngineFile& f = *files[i];
                const std::string data = random_bytes(rng_, piece);
                const std::uint64_t off = p * piece;
                auto n = set_->write(*f.state, f.backing.fd(), off, std::as_bytes(std::span(data.data(), data.size())));
                if (!n || n.value() != data.size()) continue;
                // Nothing crashes here: every write that returned must read
                // back, fsync'ed or not (the fsync that meets the failing
                // flush may fail).
                (void)set_->fsync(*f.state, f.backing.fd(), false);
                model[i].resize(std::max<std::size_t>(model[i].size(), off + data.size()));
                model[i].replace(off, data.size(), data);
            }
        }
        return model;
    }
    // Runs background work (the evacuation) until the set is in
    // passthrough, at most 10 s.
    bool until_passthrough() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (set_->state() != CacheState::passthrough) {
            set_->run_background_until_idle();
            if (std::chrono::steady_clock::now() > deadline) return false;
        }
        return true;
    }
    // Closes the set and takes memory copies of its present devices back
    // out, by dev_idx (null for a stand-in of a missing one).
    std::vector<std::unique_ptr<MemDevice>> close_and_take_images() {
        std::vector<std::unique_ptr<MemDevice>> images;
        auto st = set_->close();
        EXPECT_TRUE(st) << st.error().message;
        for (unsigned d = 0; d < 2; ++d) {
            if (!set_->device(d).present()) {
                images.push_back(nullptr);
                continue;
            }
            const BlockDevice& dev = set_->device(d).device();
            auto copy = std::make_unique<MemDevice>(dev.size(), 4096, dev.path());
            AlignedBuffer buf(dev.size(), 4096);
            EXPECT_TRUE(set_->device(d).device().read(0, buf.span()));
            EXPECT_TRUE(copy->write(0, buf.span()));
            images.push_back(std::move(copy));
        }
        set_.reset();
        return images;
    }
    static std::unique_ptr<MemDevice> copy_of(MemDevice& image) {
        auto copy = std::make_unique<MemDevice>(image.size(), 4096, image.path());
        AlignedBuffer buf(image.size(), 4096);
        EXPECT_TRUE(image.read(0, buf.span()));
        EXPECT_TRUE(copy->write(0, buf.span()));
        return copy;
    }
    // Options over copies of the images given (null: that one left out).
    CacheSetOptions options_over(const std::vector<MemDevice*>& images, bool degraded) {
        devices_.clear();
        for (MemDevice* image : images)
            if (image) devices_.push_back(copy_of(*image));
        CacheSetOptions o = set_options(replicas_);
        o.degraded = degraded;
        return o;
    }
    // Options over both members again: the present one as a degraded open
    // left it, the missing one as it was before.
    CacheSetOptions both_members(MemDevice* present_image, MemDevice* missing_image, unsigned missing) {
        std::vector<MemDevice*> both(2);
        both[1 - missing] = present_image;
        both[missing] = missing_image;
        return options_over(both, false);
    }
    // Files over old backing contents, each overwritten dirty with fsync;
    // returns what each file holds now.
    std::vector<std::string> write_dirty_files(int files, std::size_t bytes) {
        std::vector<std::string> model;
        for (int i = 0; i < files; ++i) {
            write_whole(path(fmt::format("f{}", i)), std::string(bytes, 'o'));
            EngineFile f(*set_, path(fmt::format("f{}", i)));
            model.push_back(random_bytes(rng_, bytes));
            write_synced(f, 0, model.back());
        }
        EXPECT_GT(set_->writeback_status().dirty, 0u);
        return model;
    }
    // Every file f<i> reads back through the engine as model[i] (and, with
    // `in_backing`, holds it in its backing file too).
    void expect_files_hold(const std::vector<std::string>& model, bool in_backing = false) {
        for (std::size_t i = 0; i < model.size(); ++i) {
            const std::string name = path(fmt::format("f{}", i));
            EngineFile f(*set_, name);
            EXPECT_TRUE(f.read(0, model[i].size()) == model[i]) << "file " << i << " through the cache";
            if (in_backing) {
                EXPECT_TRUE(backing_read(name, 0, model[i].size()) == model[i]) << "file " << i << " in the backing";
            }
        }
    }
    void expect_consistent() {
        ASSERT_TRUE(set_->run_gc());
        auto report = set_->check_consistency();
        ASSERT_TRUE(report) << report.error().message;
        EXPECT_TRUE(report.value().ok()) << (report.value().problems.empty() ? "" : report.value().problems[0]);
    }
    Status open_error(CacheSetOptions o) {
        auto set = CacheSet::open(std::move(o), log_);
        if (set) return ok();
        return set.error();
    }
    std::uint64_t file_id(const EngineFile& f) {
        std::lock_guard lk(f.state->mutex);
        return f.state->record.file_id;
    }
    std::vector<Extent> extents_of(const EngineFile& f, std::uint64_t size) {
        auto e = set_->index().lookup(file_id(f), 0, size);
        EXPECT_TRUE(e);
        return e ? e.value() : std::vector<Extent>{};
    }
    // Every block written with fsync acknowledged, then read back.
    void write_synced(EngineFile& f, std::uint64_t offset, const std::string& data) {
        f.write(offset, data);
        auto st = set_->fsync(*f.state, f.backing.fd(), false);
        ASSERT_TRUE(st) << st.error().message;
    }

    unsigned replicas_ = 1;
    FaultyDevice* faults_[2] = {nullptr, nullptr};
    std::vector<std::unique_ptr<BlockDevice>> devices_;
};

}  // namespace bcl::test
