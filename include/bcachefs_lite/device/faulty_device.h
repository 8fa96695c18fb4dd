// FaultyDevice: wraps any BlockDevice and makes chosen requests fail, or
// loses the writes a power cut would lose. For tests only.
//
// Faults are rules: a kind of request, an optional byte range it must
// overlap, how many matching requests to let through first and how many to
// fail, and the errno to fail with. A failed request never reaches the
// wrapped device. A rule with a delay slows its requests down instead:
// they wait that long, then go to the wrapped device (a slow device, for
// the congestion checks).
//
// crash() simulates power loss: every write not yet covered by a successful
// flush is undone (the written ranges get their earlier contents back,
// newest first), as if the device's volatile cache had been lost.
// Discards are passed through and are not undone.
//
// Thread safety: as BlockDevice; rules, the undo log and counters share one
// mutex, held across each request so a crash() never sees half a write.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bcachefs_lite/device/block_device.h"

namespace bcl {

struct FaultRule {
    IoKind kind = IoKind::write;
    // The request must overlap [offset, offset + length) to match; flushes
    // have no range and match any rule of their kind. Default: the whole
    // device (length 0 means "any offset").
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    // Matching requests to let through before failing. Default: 0.
    std::uint64_t skip = 0;
    // Matching requests to fail after that; 0 means every one from then on.
    // Default: 0.
    std::uint64_t count = 0;
    // The errno the failure carries. Default: EIO.
    int err = EIO;
    // Non-zero: matching requests are delayed this long and then served,
    // not failed (and not counted as injected). Default: 0.
    std::chrono::microseconds delay{0};
};

class FaultyDevice final : public BlockDevice {
public:
    explicit FaultyDevice(std::unique_ptr<BlockDevice> inner);

    void add_fault(const FaultRule& rule);
    void clear_faults();
    // Requests failed on purpose so far, of one kind and in all.
    std::uint64_t injected(IoKind kind) const;
    std::uint64_t injected_total() const;

    // Undoes every write since the last successful flush. Errors only if the
    // wrapped device refuses the restoring writes.
    [[nodiscard]] Status crash();
    // Writes that crash() would undo now.
    std::size_t unflushed_writes() const;

    BlockDevice& inner() { return *inner_; }
    std::uint64_t size() const override { return inner_->size(); }
    std::uint32_t logical_block_size() const override { return inner_->logical_block_size(); }
    int fd() const override { return inner_->fd(); }
    const std::string& path() const override { return inner_->path(); }

protected:
    Status do_read(std::uint64_t offset, std::span<std::byte> buf) override;
    Status do_write(std::uint64_t offset, std::span<const std::byte> buf) override;
    Status do_flush() override;
    Status do_discard(std::uint64_t offset, std::uint64_t len) override;

private:
    struct Rule {
        FaultRule spec;
        std::uint64_t seen = 0;    // matching requests so far
        std::uint64_t failed = 0;  // of which failed
    };
    struct Undo {
        std::uint64_t offset;
        std::vector<std::byte> old;  // the bytes the write replaced
    };

    // Status of the injected failure, or ok when no rule fires.
    Status maybe_fail_locked(IoKind kind, std::uint64_t offset, std::uint64_t len);

    std::unique_ptr<BlockDevice> inner_;
    mutable std::mutex mutex_;
    std::vector<Rule> rules_;                // guarded by mutex_
    std::vector<Undo> unflushed_;            // guarded by mutex_
    std::uint64_t injected_[kIoKinds] = {};  // guarded by mutex_
};

}  // namespace bcl
