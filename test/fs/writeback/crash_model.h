// What every file of the crash workload may hold after the daemon was
// killed, built from the workload's events (crash_event.h).
//
// For each name the model keeps the state the last fsync acknowledged
// (contents, or absence), whether a change began since then, and while one
// did, every state a crash may leave behind: the acknowledged one and the
// result of each change since. After a crash:
//   - a name with nothing in flight must hold exactly its acknowledged
//     state: fsync'ed bytes are all there, and nothing unlinked or
//     truncated away comes back;
//   - a name with changes in flight must be readable, and each byte it
//     holds must be one that one of its possible states holds at that
//     offset, or zero (a hole, or an extension not yet written); its size
//     lies between the smallest and the largest possible one. A byte from
//     anywhere else (another file, an old version, a reused bucket) is
//     caught.
//
// Thread safety: none; one model per process (the workload's child works
// on its own copy and applies the same events).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crash_event.h"

namespace bcl::test {

// A name's state: its contents, or nullopt when it does not exist.
using Content = std::optional<std::string>;

// The folders and file names the crash workload uses, relative to the
// mount root. A name's number is its index in `names`.
struct CrashLayout {
    std::vector<std::string> dirs;
    std::vector<std::string> names;   // every file name, scratch names included
    std::vector<bool> scratch;        // per name: a temporary of the atomic-replace pattern
    std::vector<std::size_t> dir_of;  // per name: index into dirs
};

// d0..d2, each with f0..f4 and one scratch name "tmp".
CrashLayout crash_layout();

struct NameState {
    Content current;                  // what the name holds if nothing crashes
    Content acked;                    // the state the last fsync acknowledged
    bool pending = false;             // a change began after `acked`
    std::vector<Content> candidates;  // while pending: every state a crash may leave
};

class CrashModel {
public:
    // `names` names, none of which exists (acknowledged).
    explicit CrashModel(std::size_t names);

    std::size_t size() const { return names_.size(); }
    const NameState& operator[](std::size_t name) const { return names_.at(name); }

    // Applies one event of the workload. Empty on success, else why the
    // event cannot follow the ones before (then nothing changed).
    std::string apply(const Event& event);

    // Whether `seen`, what `name` holds after the daemon was killed and the
    // file system mounted again, is a state the model allows; empty when it
    // is, else what is wrong (sizes and the first offending offset).
    std::string check(std::size_t name, const Content& seen) const;

    // After check(): takes `seen` as what `name` holds now. A name with
    // changes in flight stays unacknowledged, and `seen` is the only state
    // a later crash may leave until the next change.
    void settle(std::size_t name, const Content& seen);

    // Everything about `name`, for failure messages.
    std::string describe(std::size_t name) const;

private:
    // Records that a change to `name` began whose result is `after`.
    void begin_change(std::size_t name, Content after);

    // A rename between its start and its acknowledgement: what the moved
    // name was, so that the acknowledgement can move it exactly.
    struct RenameInFlight {
        std::size_t from = 0;
        std::size_t to = 0;
        NameState moved;
    };

    std::vector<NameState> names_;
    std::optional<RenameInFlight> rename_;
};

// "absent" or "N bytes, crc32c X".
std::string describe_content(const Content& content);

}  // namespace bcl::test
