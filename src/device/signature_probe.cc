// probe_signatures: libblkid's view of what a device already holds, the
// same probe mkfs tools and wipefs run before they overwrite anything.
#include <blkid/blkid.h>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "bcachefs_lite/device/format.h"

namespace bcl {

namespace {

struct ProbeDeleter {
    void operator()(blkid_struct_probe* p) const { blkid_free_probe(p); }
};

std::string lookup(blkid_probe pr, const char* name, std::size_t* len = nullptr) {
    const char* data = nullptr;
    std::size_t n = 0;
    if (blkid_probe_lookup_value(pr, name, &data, &n) != 0 || data == nullptr) return {};
    if (len) *len = n;
    // Values are NUL-terminated strings except the raw magic bytes.
    if (len) return std::string(data, n);
    return std::string(data, strnlen(data, n));
}

std::uint64_t lookup_u64(blkid_probe pr, const char* name) {
    std::string s = lookup(pr, name);
    std::uint64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

}  // namespace

Result<std::vector<Signature>> probe_signatures(const std::string& path) {
    errno = 0;
    std::unique_ptr<blkid_struct_probe, ProbeDeleter> probe(blkid_new_probe_from_filename(path.c_str()));
    if (!probe) return sys_error(errno != 0 ? errno : EIO, path + ": cannot probe for signatures");
    blkid_probe pr = probe.get();

    blkid_probe_enable_superblocks(pr, 1);
    blkid_probe_set_superblocks_flags(
        pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE | BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM);
    blkid_probe_enable_partitions(pr, 1);
    blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC | BLKID_PARTS_FORCE_GPT);

    std::vector<Signature> found;
    int rc;
    // blkid_do_probe steps through every match of every chain in turn;
    // safeprobe would stop at the first or call two of them ambiguous.
    while ((rc = blkid_do_probe(pr)) == 0) {
        Signature sig;
        std::size_t magic_len = 0;
        if (!lookup(pr, "TYPE").empty()) {
            sig.type = lookup(pr, "TYPE");
            sig.usage = lookup(pr, "USAGE");
            sig.offset = lookup_u64(pr, "SBMAGIC_OFFSET");
            lookup(pr, "SBMAGIC", &magic_len);
        } else if (!lookup(pr, "PTTYPE").empty()) {
            sig.type = lookup(pr, "PTTYPE");
            sig.usage = "partition table";
            sig.offset = lookup_u64(pr, "PTMAGIC_OFFSET");
            lookup(pr, "PTMAGIC", &magic_len);
        } else {
            continue;
        }
        if (sig.usage.empty()) sig.usage = "other";
        sig.length = magic_len;
        found.push_back(std::move(sig));
    }
    if (rc < 0) return sys_error(EIO, Errc::io, path + ": probing for signatures failed");
    return found;
}

}  // namespace bcl
