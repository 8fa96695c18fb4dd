#include "bcachefs_lite/device/faulty_device.h"

#include <cstring>
#include <thread>
#include <fmt/format.h>

#include "bcachefs_lite/util/aligned_buffer.h"

namespace bcl {

FaultyDevice::FaultyDevice(std::unique_ptr<BlockDevice> inner) : inner_(std::move(inner)) {}

void FaultyDevice::add_fault(const FaultRule& rule) {
    std::lock_guard lock(mutex_);
    rules_.push_back(Rule{rule});
}

void FaultyDevice::clear_faults() {
    std::lock_guard lock(mutex_);
    rules_.clear();
}

std::uint64_t FaultyDevice::injected(IoKind kind) const {
    std::lock_guard lock(mutex_);
    return injected_[static_cast<int>(kind)];
}

std::uint64_t FaultyDevice::injected_total() const {
    std::lock_guard lock(mutex_);
    std::uint64_t n = 0;
    for (auto v : injected_) n += v;
    return n;
}

std::size_t FaultyDevice::unflushed_writes() const {
    std::lock_guard lock(mutex_);
    return unflushed_.size();
}

Status FaultyDevice::maybe_fail_locked(IoKind kind, std::uint64_t offset, std::uint64_t len) {
    for (Rule& r : rules_) {
        const FaultRule& f = r.spec;
        if (f.kind != kind) continue;
        if (kind != IoKind::flush && f.length != 0) {
            const bool overlaps = offset < f.offset + f.length && f.offset < offset + len;
            if (!overlaps) continue;
        }
        const std::uint64_t nth = r.seen++;
        if (nth < f.skip) continue;
        if (f.count != 0 && r.failed >= f.count) continue;
        ++r.failed;
        if (f.delay.count() != 0) {
            std::this_thread::sleep_for(f.delay);
            continue;
        }
        ++injected_[static_cast<int>(kind)];
        return sys_error(f.err, Errc::io,
                         fmt::format("{}: injected {} fault at {}+{}", path(), io_kind_name(kind), offset, len));
    }
    return ok();
}

Status FaultyDevice::do_read(std::uint64_t offset, std::span<std::byte> buf) {
    std::lock_guard lock(mutex_);
    BCL_TRY(maybe_fail_locked(IoKind::read, offset, buf.size()));
    return inner_->read(offset, buf);
}

Status FaultyDevice::do_write(std::uint64_t offset, std::span<const std::byte> buf) {
    std::lock_guard lock(mutex_);
    BCL_TRY(maybe_fail_locked(IoKind::write, offset, buf.size()));
    // Keep what the write replaces so crash() can put it back.
    AlignedBuffer old(buf.size(), logical_block_size());
    BCL_TRY(inner_->read(offset, old.span()));
    BCL_TRY(inner_->write(offset, buf));
    unflushed_.push_back(Undo{offset, std::vector<std::byte>(old.data(), old.data() + old.size())});
    return ok();
}

Status FaultyDevice::do_flush() {
    std::lock_guard lock(mutex_);
    BCL_TRY(maybe_fail_locked(IoKind::flush, 0, 0));
    BCL_TRY(inner_->flush());
    unflushed_.clear();
    return ok();
}

Status FaultyDevice::do_discard(std::uint64_t offset, std::uint64_t len) {
    std::lock_guard lock(mutex_);
    BCL_TRY(maybe_fail_locked(IoKind::discard, offset, len));
    return inner_->discard(offset, len);
}

Status FaultyDevice::crash() {
    std::lock_guard lock(mutex_);
    // Newest first, so a range written twice ends with what preceded both.
    while (!unflushed_.empty()) {
        const Undo& u = unflushed_.back();
        AlignedBuffer buf(u.old.size(), logical_block_size());
        std::memcpy(buf.data(), u.old.data(), u.old.size());
        BCL_TRY(inner_->write(u.offset, buf.span()));
        unflushed_.pop_back();
    }
    return inner_->flush();
}

}  // namespace bcl
