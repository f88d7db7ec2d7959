// libFuzzer target: actif::RunningStats::from_bytes on arbitrary bytes.
//
// The first input byte picks a mode (bit 0: repair the trailing CRC-32, so mutations
// reach the checks behind the checksum); the rest is the blob. The seed corpus is
// shared with the Python fuzzers (tests/fuzz/corpus/stats). A malformed blob must
// throw actif::Error; anything else (another exception, a sanitizer report, an
// accepted blob that does not serialise back to the same bytes) is a crash. An accepted
// state is then used, merged with itself and fed a row: each step either throws
// actif::Error with the state unchanged or leaves a state that serialises back.
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
  actif::RunningStats rs(1);
  try {
    rs = actif::RunningStats::from_bytes(blob.data(), blob.size());
    if (rs.to_bytes() != blob) __builtin_trap();  // accepted blobs must round-trip exactly
  } catch (const actif::Error&) {
    return 0;  // the one expected outcome for malformed input
  }
  const std::vector<double> row(static_cast<size_t>(rs.n_features()), 0.25);
  for (int step = 0; step < 2; ++step) {
    const std::vector<uint8_t> before = rs.to_bytes();
    try {
      if (step == 0) {
        const actif::RunningStats copy = rs;
        rs.merge(copy);
      } else {
        rs.update(row.data(), 1, rs.n_features());
      }
    } catch (const actif::Error&) {
      if (rs.to_bytes() != before) __builtin_trap();  // refused: nothing changed
      continue;
    }
    const std::vector<uint8_t> after = rs.to_bytes();
    try {
      if (actif::RunningStats::from_bytes(after.data(), after.size()).to_bytes() != after) __builtin_trap();
    } catch (const actif::Error&) {
      __builtin_trap();  // a state reached by merging or updating must serialise back
    }
  }
  return 0;
}
