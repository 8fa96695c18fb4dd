#include "core/index_gen_store.h"

#include <fmt/format.h>

namespace bcl {

Status IndexGenStore::persist(unsigned dev, std::span<const BucketGenPrio> buckets) {
    if (dev >= devices_.size()) return make_error(Errc::invalid, fmt::format("no cache device {}", dev));
    BCL_TRY(devices_[dev]->flush());
    std::vector<BucketGenRecord> records;
    records.reserve(buckets.size());
    for (const BucketGenPrio& b : buckets) records.push_back(BucketGenRecord{b.bucket, b.gen, b.prio});
    return index_.put_bucket_gens(dev, records);
}

}  // namespace bcl
