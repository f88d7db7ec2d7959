// A strict, bounded reader for zip archives whose members are STORED (uncompressed),
// as np.savez writes them. It reads the central directory (zip64 records included),
// checks every offset and size against the bytes present, and hands out members as
// views into the caller's buffer after checking their local header and CRC-32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace actif {
namespace loader {

struct ByteView {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

class StoredZip {
 public:
  // Parses the directory of the archive in `bytes` (not copied: it must outlive this).
  // Throws ModelFileError: Malformed (not a zip, truncated, inconsistent), Unsupported
  // (compressed, encrypted or multi-disk), Limit (too many members, member too large).
  explicit StoredZip(ByteView bytes);

  // The member's bytes; throws ModelFileError if absent or corrupt (CRC mismatch).
  ByteView read(const std::string& name) const;

 private:
  struct Member {
    std::string name;
    uint64_t local_offset;
    uint64_t size;
    uint32_t crc;
    uint16_t method;
  };
  const Member* find(const std::string& name) const;

  ByteView bytes_;
  std::vector<Member> members_;
};

}  // namespace loader
}  // namespace actif
