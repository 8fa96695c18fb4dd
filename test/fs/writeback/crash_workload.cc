#include "crash_workload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "crash_event.h"

namespace bcl::test {
namespace {

constexpr std::size_t kBlock = 4096;
constexpr std::size_t kMaxUnalignedWrite = 64 << 10;
constexpr std::size_t kMaxAlignedBlocks = 16;
// How far past the end a write or a truncate may reach: writes there leave
// holes that must read as zeros.
constexpr std::size_t kMaxGap = 64 << 10;

// Unwinds the workload: its exit status.
struct StopWorkload {
    int status;
};

class CrashWorkload {
public:
    CrashWorkload(const CrashWorkloadSpec& spec, CrashModel model)
        : spec_(spec), model_(std::move(model)), rng_(spec.seed) {}

    void run() {
        for (int i = 0; i < spec_.steps; ++i) {
            step();
            report(progress_event(EventKind::step_done));
        }
        report(progress_event(EventKind::finished));
    }

private:
    void step() {
        unsigned pick = static_cast<unsigned>(rng_() % 100);
        if (pick < 28) {
            write_step(/*osync=*/false);
        } else if (pick < 38) {
            write_step(/*osync=*/true);
        } else if (pick < 50) {
            truncate_step();
        } else if (pick < 60) {
            rename_step();
        } else if (pick < 70) {
            replace_step();
        } else if (pick < 78) {
            unlink_step();
        } else if (pick < 88) {
            sync_step();
        } else if (pick < 95) {
            create_step();
        } else {
            verify_step();
        }
    }

    // -- reporting ----------------------------------------------------------

    void report(const Event& event) {
        if (!send_event(spec_.report_fd, event)) throw StopWorkload{2};
        if (std::string why = model_.apply(event); !why.empty()) {
            fail_with(0, "workload bug: " + why);
        }
    }

    [[noreturn]] void fail_with(int err, const std::string& what) {
        send_event(spec_.report_fd, failure_event(err, what));
        throw StopWorkload{1};
    }

    // Reports the operation that just failed with errno.
    [[noreturn]] void fail(const std::string& what, std::size_t name) {
        int err = errno;
        fail_with(err, what + " " + spec_.layout.names[name] + ": " + std::strerror(err));
    }

    // -- names --------------------------------------------------------------

    std::string path(std::size_t name) const { return spec_.mnt + "/" + spec_.layout.names[name]; }
    std::string dir_path(std::size_t dir) const { return spec_.mnt + "/" + spec_.layout.dirs[dir]; }
    bool exists(std::size_t name) const { return model_[name].current.has_value(); }
    std::size_t size_of(std::size_t name) const { return model_[name].current->size(); }

    // A random regular (not scratch) name that exists (when `existing`) or
    // not; nullopt when there is none.
    std::optional<std::size_t> pick_name(bool existing) {
        std::vector<std::size_t> found;
        for (std::size_t n = 0; n < model_.size(); ++n) {
            if (!spec_.layout.scratch[n] && exists(n) == existing) found.push_back(n);
        }
        if (found.empty()) return std::nullopt;
        return found[rng_() % found.size()];
    }

    // The scratch name of a folder (every folder of the layout has one).
    std::size_t scratch_of_dir(std::size_t dir) const {
        for (std::size_t n = 0; n < model_.size(); ++n) {
            if (spec_.layout.scratch[n] && spec_.layout.dir_of[n] == dir) return n;
        }
        return 0;
    }

    // -- data ---------------------------------------------------------------

    std::string random_data(std::size_t size) {
        std::string out(size, '\0');
        for (std::size_t i = 0; i < size; i += 8) {
            std::uint64_t v = rng_();
            std::memcpy(out.data() + i, &v, std::min<std::size_t>(8, size - i));
        }
        return out;
    }

    // A size for a whole new file: block-aligned or not, sometimes empty.
    std::size_t random_file_size() {
        switch (rng_() % 4) {
        case 0: return kBlock * (rng_() % (kMaxCrashFileSize / kBlock + 1));
        case 1: return rng_() % 100;
        default: return rng_() % (kMaxCrashFileSize + 1);
        }
    }

    // -- system calls -------------------------------------------------------

    int open_file(std::size_t name, int flags) {
        int fd = ::open(path(name).c_str(), flags | O_CLOEXEC, 0644);
        if (fd < 0) fail("open", name);
        return fd;
    }

    void close_file(int fd, std::size_t name) {
        if (::close(fd) != 0) fail("close", name);
    }

    void pwrite_all(int fd, std::size_t name, const std::string& data, std::size_t offset) {
        std::size_t done = 0;
        while (done < data.size()) {
            ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                if (n == 0) errno = EIO;
                fail("pwrite", name);
            }
            done += static_cast<std::size_t>(n);
        }
    }

    void fsync_dir(std::size_t dir) {
        int fd = ::open(dir_path(dir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || ::fsync(fd) != 0) {
            int err = errno;
            if (fd >= 0) ::close(fd);
            fail_with(err, "fsync of the folder " + spec_.layout.dirs[dir] + ": " + std::strerror(err));
        }
        ::close(fd);
    }

    // fsync or fdatasync of `fd` (and of the folder when the name was made
    // by this step); then the name's state is durable.
    void sync_file(int fd, std::size_t name, bool made) {
        bool data_only = rng_() % 2 == 0;
        if ((data_only ? ::fdatasync(fd) : ::fsync(fd)) != 0) fail(data_only ? "fdatasync" : "fsync", name);
        if (made) fsync_dir(spec_.layout.dir_of[name]);
        report(name_event(EventKind::synced, name));
    }

    void maybe_sync(int fd, std::size_t name) {
        if (rng_() % 2 == 0) sync_file(fd, name, false);
    }

    // -- steps --------------------------------------------------------------

    // A pwrite at a random offset: block-aligned or not, inside the file,
    // extending it, or past its end (a hole).
    void write_step(bool osync) {
        auto name = pick_name(true);
        if (!name) return create_step();
        std::size_t size = size_of(*name);
        std::size_t len, offset;
        if (rng_() % 2 == 0) {
            len = kBlock * (1 + rng_() % kMaxAlignedBlocks);
            std::size_t reach = std::min(size + kMaxGap, kMaxCrashFileSize - len);
            offset = kBlock * (rng_() % (reach / kBlock + 1));
        } else {
            len = 1 + rng_() % kMaxUnalignedWrite;
            std::size_t reach = std::min(size + kMaxGap, kMaxCrashFileSize - len);
            offset = rng_() % (reach + 1);
        }
        std::string data = random_data(len);
        bool was_pending = model_[*name].pending;
        int fd = open_file(*name, O_WRONLY | (osync ? O_SYNC : 0));
        report(write_event(*name, offset, data));
        pwrite_all(fd, *name, data, offset);
        if (osync) {
            // O_SYNC makes this write durable; the whole file is durable
            // when nothing else was in flight.
            if (!was_pending) report(name_event(EventKind::synced, *name));
        } else {
            maybe_sync(fd, *name);
        }
        close_file(fd, *name);
    }

    // ftruncate down (into the data) or up (zeros that must stay zeros).
    void truncate_step() {
        auto name = pick_name(true);
        if (!name) return create_step();
        std::size_t size = size_of(*name);
        std::size_t to;
        if ((rng_() % 2 == 0 && size > 0) || size >= kMaxCrashFileSize) {
            to = rng_() % 2 == 0 ? rng_() % size : kBlock * (rng_() % (size / kBlock + 1));
        } else {
            to = std::min(size + 1 + rng_() % kMaxGap, kMaxCrashFileSize);
        }
        int fd = open_file(*name, O_WRONLY);
        report(truncate_event(*name, to));
        if (::ftruncate(fd, static_cast<off_t>(to)) != 0) fail("ftruncate", *name);
        maybe_sync(fd, *name);
        close_file(fd, *name);
    }

    // rename over another name (mostly one that exists), possibly into
    // another folder; then both folders are fsynced.
    void rename_step() {
        auto from = pick_name(true);
        if (!from) return create_step();
        std::optional<std::size_t> to;
        for (int tries = 0; tries < 8 && (!to || *to == *from); ++tries) to = pick_name(rng_() % 4 != 0);
        if (!to || *to == *from) return write_step(false);
        rename_names(*from, *to);
    }

    void rename_names(std::size_t from, std::size_t to) {
        report(rename_event(EventKind::rename, from, to));
        if (::rename(path(from).c_str(), path(to).c_str()) != 0)
            fail("rename to " + spec_.layout.names[to] + " of", from);
        fsync_dir(spec_.layout.dir_of[from]);
        if (spec_.layout.dir_of[to] != spec_.layout.dir_of[from]) fsync_dir(spec_.layout.dir_of[to]);
        report(rename_event(EventKind::rename_synced, from, to));
    }

    // The atomic-replace pattern: write a temporary, fsync it, rename it
    // over the target, fsync the folder.
    void replace_step() {
        // Mostly over an existing file; over a new name when there is none
        // of the kind asked for.
        bool over_existing = rng_() % 4 != 0;
        auto target_name = pick_name(over_existing);
        if (!target_name) target_name = pick_name(!over_existing);
        std::size_t target = *target_name;
        std::size_t tmp = scratch_of_dir(spec_.layout.dir_of[target]);
        std::string data = random_data(random_file_size());
        report(name_event(EventKind::create, tmp));
        int fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
        if (!data.empty()) {
            report(write_event(tmp, 0, data));
            pwrite_all(fd, tmp, data, 0);
        }
        sync_file(fd, tmp, /*made=*/true);
        close_file(fd, tmp);
        rename_names(tmp, target);
    }

    // unlink of a file (a scratch file left by a crash too), then the
    // folder is fsynced.
    void unlink_step() {
        std::vector<std::size_t> found;
        for (std::size_t n = 0; n < model_.size(); ++n) {
            if (exists(n)) found.push_back(n);
        }
        if (found.empty()) return create_step();
        std::size_t name = found[rng_() % found.size()];
        report(name_event(EventKind::unlink, name));
        if (::unlink(path(name).c_str()) != 0) fail("unlink", name);
        fsync_dir(spec_.layout.dir_of[name]);
        report(name_event(EventKind::synced, name));
    }

    // fsync or fdatasync alone, from a read-only descriptor.
    void sync_step() {
        auto name = pick_name(true);
        if (!name) return create_step();
        int fd = open_file(*name, O_RDONLY);
        sync_file(fd, *name, false);
        close_file(fd, *name);
    }

    // A new file with random contents, fsynced most of the time.
    void create_step() {
        auto name = pick_name(false);
        if (!name) return write_step(false);
        std::string data = random_data(random_file_size());
        report(name_event(EventKind::create, *name));
        int fd = open_file(*name, O_WRONLY | O_CREAT | O_TRUNC);
        if (!data.empty()) {
            report(write_event(*name, 0, data));
            pwrite_all(fd, *name, data, 0);
        }
        if (rng_() % 10 < 7) sync_file(fd, *name, /*made=*/true);
        close_file(fd, *name);
    }

    // Reads a file back while the daemon runs: it must hold exactly what
    // the workload wrote (dirty data in the cache, written back or not).
    void verify_step() {
        auto name = pick_name(true);
        if (!name) return create_step();
        int fd = open_file(*name, O_RDONLY);
        std::string got;
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fail("read", *name);
            if (n == 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        close_file(fd, *name);
        if (got != *model_[*name].current) {
            fail_with(0, "read back " + spec_.layout.names[*name] + " while mounted: holds " + describe_content(got) +
                             ", written " + describe_content(model_[*name].current));
        }
    }

    const CrashWorkloadSpec& spec_;
    CrashModel model_;
    std::mt19937_64 rng_;
};

}  // namespace

int run_crash_workload(const CrashWorkloadSpec& spec, CrashModel model) {
    try {
        CrashWorkload(spec, std::move(model)).run();
    } catch (const StopWorkload& stop) {
        return stop.status;
    }
    return 0;
}

}  // namespace bcl::test
