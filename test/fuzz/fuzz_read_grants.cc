// Fuzzes the decoder of the read grants a mount saves in the index for the
// next one (ReadGrants::restore), which reads bytes the index may hold
// corrupted. Checks:
//   - refused bytes give Errc::corrupt and add no grant;
//   - accepted bytes give at most ReadGrants::kMaxCallers grants a file,
//     each never checked (so none stands before a stat renews it);
//   - what was accepted, saved again, restores to the same grants and
//     saves to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bcachefs_lite/util/le_bytes.h"
#include "fuzz_check.h"
#include "read_grants.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using bcl::ReadGrants;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    ReadGrants grants;
    const bcl::Status restored = grants.restore(bytes);
    const std::string saved = grants.save();
    if (!restored) {
        bcl::fuzz::check_error(restored.error(), {bcl::Errc::corrupt});
        BCL_FUZZ_CHECK(saved == ReadGrants().save());
        return 0;
    }
    ReadGrants again;
    BCL_FUZZ_CHECK(again.restore(saved));
    BCL_FUZZ_CHECK(again.save() == saved);
    // Every grant decoded is there, never checked: walk the saved form's
    // files through find() with the callers of the first file's grants.
    bcl::LeReader r(saved);
    std::uint8_t version = 0;
    std::uint32_t files = 0;
    BCL_FUZZ_CHECK(r.get(version) && r.get(files));
    BCL_FUZZ_CHECK(files <= ReadGrants::kMaxFiles);
    if (files != 0) {
        std::uint64_t dev = 0, ino = 0;
        std::uint8_t n = 0;
        bcl::CallerId caller;
        std::uint32_t ngroups = 0;
        BCL_FUZZ_CHECK(r.get(dev) && r.get(ino) && r.get(n));
        BCL_FUZZ_CHECK(n <= ReadGrants::kMaxCallers);
        if (n != 0 && r.get(caller.uid) && r.get(caller.gid) && r.get(ngroups)) {
            caller.groups.resize(ngroups);
            bool whole = true;
            for (gid_t& g : caller.groups) whole = whole && r.get(g);
            const auto grant = grants.find(bcl::FileKey{static_cast<dev_t>(dev), static_cast<ino_t>(ino)}, caller);
            BCL_FUZZ_CHECK(!whole || (grant && grant->checked_ns == 0));
        }
    }
    return 0;
}
