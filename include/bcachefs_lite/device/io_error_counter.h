// IoErrorCounter: the decaying count of a cache device's I/O errors, as
// bcache keeps it (bch_count_io_errors), and the two tunables that govern
// it, named as bcache's sysfs files.
//
// Every request to the device counts as one I/O, failed or not. Each error
// adds one to the count. When io_error_halflife is not 0, every
// io_error_halflife / 88 I/Os the count is multiplied by 127/128, so an
// error weighs half as much after about io_error_halflife I/Os
// (log(1/2) / log(127/128) is about 88); the count is kept in fixed point
// so that this scaling does not round single errors away. The request whose
// error takes the count (in whole errors) to io_error_limit or beyond is
// "over the limit": the cache is to be taken out of service. With
// io_error_limit 0 the first error does that.
//
// Defaults are bcache's: io_error_limit 8, io_error_halflife 0 (errors
// never decay). As in bcache, io_error_halflife is kept as a multiple of 88
// (rounded down; anything below 88 means no decay).
//
// Thread safety: count(), errors() and the tunables may be used from any
// thread concurrently (one mutex).
#pragma once

#include <cstdint>
#include <mutex>

namespace bcl {

struct IoErrorTunables {
    // Errors (decayed) at which the cache is taken out of service.
    // Default: 8.
    std::uint32_t io_error_limit = 8;
    // I/Os after which an error counts half; 0: never. Default: 0.
    std::uint32_t io_error_halflife = 0;

    bool operator==(const IoErrorTunables&) const = default;
};

// The I/Os between two decay steps for a halflife (bcache: halflife / 88).
inline constexpr std::uint32_t kIoErrorHalflifeSteps = 88;

class IoErrorCounter {
public:
    explicit IoErrorCounter(const IoErrorTunables& tunables = {}) { set_tunables(tunables); }

    // The tunables as kept (io_error_halflife rounded down to a multiple of 88).
    IoErrorTunables tunables() const;
    void set_tunables(const IoErrorTunables& tunables);

    // Counts one request to the device; true when it failed and the count
    // is now at or over io_error_limit.
    bool count(bool failed);
    // The decayed count, in whole errors.
    std::uint64_t errors() const;
    // Requests counted, failed or not.
    std::uint64_t ios() const;

private:
    // One error in the fixed-point count (bcache's IO_ERROR_SHIFT).
    static constexpr unsigned kShift = 20;

    mutable std::mutex mutex_;
    std::uint32_t limit_ = 0;        // guarded by mutex_
    std::uint32_t decay_ = 0;        // I/Os per decay step; 0: none
    std::uint64_t since_decay_ = 0;  // I/Os since the last decay step
    std::uint64_t ios_ = 0;
    std::uint64_t errors_ = 0;  // fixed point, kShift fraction bits
};

}  // namespace bcl
