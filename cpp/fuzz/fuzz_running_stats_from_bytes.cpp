// libFuzzer target: actif::RunningStats::from_bytes on arbitrary bytes.
//
// The first input byte picks a mode (bit 0: repair the trailing CRC-32, so mutations
// reach the checks behind the checksum); the rest is the blob. The seed corpus is
// shared with the Python fuzzers (tests/fuzz/corpus/stats). A malformed blob must
// throw actif::Error; anything else (another exception, a sanitizer report, an
// accepted blob that does not serialise back to the same bytes) is a crash.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "actif/model.hpp"  // actif::Error
#include "actif/running_stats.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<uint8_t> blob(data + 1, data + size);
  if ((data[0] & 1u) != 0 && blob.size() >= 4) {
    const uint32_t crc = actif::crc32(blob.data(), blob.size() - 4);
    std::memcpy(blob.data() + blob.size() - 4, &crc, 4);
  }
  try {
    const actif::RunningStats rs = actif::RunningStats::from_bytes(blob.data(), blob.size());
    if (rs.to_bytes() != blob) __builtin_trap();  // accepted blobs must round-trip exactly
  } catch (const actif::Error&) {
    // the one expected outcome for malformed input
  }
  return 0;
}
