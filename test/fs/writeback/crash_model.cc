#include "crash_model.h"

#include <fmt/format.h>

#include <algorithm>

#include "bcachefs_lite/util/crc32c.h"

namespace bcl::test {
namespace {

// The first offset at which a and b differ (the shorter length when one is
// a prefix of the other), with both bytes where they exist.
std::string first_difference(const std::string& got, const std::string& want) {
    std::size_t n = std::min(got.size(), want.size());
    auto at = std::mismatch(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(n), want.begin());
    auto offset = static_cast<std::size_t>(at.first - got.begin());
    if (offset < n) {
        return fmt::format("first difference at byte {} (0x{:02x}, expected 0x{:02x})", offset,
                           static_cast<unsigned char>(got[offset]), static_cast<unsigned char>(want[offset]));
    }
    return fmt::format("equal up to byte {}, then one of them ends", n);
}

void add_unique(std::vector<Content>& states, const Content& state) {
    if (std::find(states.begin(), states.end(), state) == states.end()) states.push_back(state);
}

}  // namespace

CrashLayout crash_layout() {
    CrashLayout layout;
    for (std::size_t d = 0; d < 3; ++d) {
        layout.dirs.push_back(fmt::format("d{}", d));
        for (std::size_t f = 0; f < 5; ++f) {
            layout.names.push_back(fmt::format("d{}/f{}", d, f));
            layout.scratch.push_back(false);
            layout.dir_of.push_back(d);
        }
        layout.names.push_back(fmt::format("d{}/tmp", d));
        layout.scratch.push_back(true);
        layout.dir_of.push_back(d);
    }
    return layout;
}

std::string describe_content(const Content& content) {
    if (!content) return "absent";
    return fmt::format("{} bytes, crc32c {:08x}", content->size(), crc32c(0, content->data(), content->size()));
}

CrashModel::CrashModel(std::size_t names) : names_(names) {
    for (NameState& state : names_) state.candidates = {Content()};
}

void CrashModel::begin_change(std::size_t name, Content after) {
    NameState& state = names_[name];
    state.pending = true;
    add_unique(state.candidates, after);
    state.current = std::move(after);
}

std::string CrashModel::apply(const Event& event) {
    auto valid = [this](std::size_t name) { return name < names_.size(); };
    if (!valid(event.a) || !valid(event.b)) return fmt::format("name number {} or {} out of range", event.a, event.b);
    NameState& a = names_[event.a];
    switch (event.kind) {
    case EventKind::write: {
        if (!a.current) return "write to a file that does not exist";
        std::string after = *a.current;
        std::size_t end = event.arg + event.data.size();
        if (after.size() < end) after.resize(end, '\0');
        after.replace(event.arg, event.data.size(), event.data);
        begin_change(event.a, std::move(after));
        return {};
    }
    case EventKind::create: begin_change(event.a, std::string()); return {};
    case EventKind::truncate: {
        if (!a.current) return "truncate of a file that does not exist";
        std::string after = *a.current;
        after.resize(event.arg, '\0');
        begin_change(event.a, std::move(after));
        return {};
    }
    case EventKind::unlink:
        if (!a.current) return "unlink of a file that does not exist";
        begin_change(event.a, Content());
        return {};
    case EventKind::rename: {
        if (!a.current) return "rename of a file that does not exist";
        if (event.a == event.b) return "rename of a file to itself";
        rename_ = RenameInFlight{event.a, event.b, a};
        NameState& to = names_[event.b];
        // The target may end up as any state the moved file may be in,
        // or keep any of its own.
        to.pending = true;
        for (const Content& state : a.candidates) add_unique(to.candidates, state);
        add_unique(to.candidates, a.current);
        to.current = a.current;
        begin_change(event.a, Content());
        return {};
    }
    case EventKind::synced:
        a.acked = a.current;
        a.pending = false;
        a.candidates = {a.current};
        return {};
    case EventKind::rename_synced: {
        if (!rename_ || rename_->from != event.a || rename_->to != event.b) {
            return "acknowledgement of a rename that did not begin";
        }
        // The target is now the moved file, exactly as durable as it
        // was; the old name is durably gone.
        names_[event.b] = rename_->moved;
        NameState& from = names_[event.a];
        from = NameState{};
        from.candidates = {Content()};
        rename_.reset();
        return {};
    }
    case EventKind::step_done:
    case EventKind::failed:
    case EventKind::finished: return {};
    }
    return fmt::format("unknown event kind {}", static_cast<int>(event.kind));
}

std::string CrashModel::check(std::size_t name, const Content& seen) const {
    const NameState& state = names_.at(name);
    if (!state.pending) {
        if (seen == state.acked) return {};
        if (!seen) return fmt::format("is missing; fsync acknowledged {}", describe_content(state.acked));
        if (!state.acked) return fmt::format("exists ({}) after its removal was acknowledged", describe_content(seen));
        return fmt::format("holds {}; fsync acknowledged {}; {}", describe_content(seen), describe_content(state.acked),
                           first_difference(*seen, *state.acked));
    }

    std::vector<const std::string*> present;
    bool may_be_absent = false;
    for (const Content& candidate : state.candidates) {
        if (candidate) {
            present.push_back(&*candidate);
        } else {
            may_be_absent = true;
        }
    }
    if (!seen) {
        if (may_be_absent) return {};
        return fmt::format("is missing, but it existed in each of its {} possible states", state.candidates.size());
    }
    if (present.empty()) return fmt::format("exists ({}) but no possible state has it", describe_content(seen));

    std::size_t smallest = present.front()->size();
    std::size_t largest = smallest;
    for (const std::string* candidate : present) {
        smallest = std::min(smallest, candidate->size());
        largest = std::max(largest, candidate->size());
    }
    if (seen->size() < smallest || seen->size() > largest) {
        return fmt::format("holds {}, outside the possible sizes {}..{}", describe_content(seen), smallest, largest);
    }
    std::size_t foreign = 0;
    std::size_t first_foreign = 0;
    for (std::size_t i = 0; i < seen->size(); ++i) {
        char byte = (*seen)[i];
        if (byte == '\0') continue;
        bool known = std::any_of(present.begin(), present.end(), [&](const std::string* candidate) {
            return i < candidate->size() && (*candidate)[i] == byte;
        });
        if (!known) {
            if (foreign == 0) first_foreign = i;
            ++foreign;
        }
    }
    if (foreign == 0) return {};
    return fmt::format(
        "holds {} with {} bytes that none of its {} possible states holds there, the first at byte {} "
        "(0x{:02x})",
        describe_content(seen), foreign, present.size(), first_foreign,
        static_cast<unsigned char>((*seen)[first_foreign]));
}

void CrashModel::settle(std::size_t name, const Content& seen) {
    NameState& state = names_.at(name);
    if (!state.pending) return;
    state.current = seen;
    state.candidates = {seen};
}

std::string CrashModel::describe(std::size_t name) const {
    const NameState& state = names_.at(name);
    std::string out = fmt::format("acknowledged: {}; expected now: {}", describe_content(state.acked),
                                  describe_content(state.current));
    if (!state.pending) return out + "; nothing in flight";
    out += "; changes in flight, possible states:";
    for (const Content& candidate : state.candidates) out += " [" + describe_content(candidate) + "]";
    return out;
}

}  // namespace bcl::test
