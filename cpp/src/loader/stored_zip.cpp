#include "stored_zip.hpp"

#include <cstring>

#include "actif/model_file.hpp"
#include "actif/running_stats.hpp"  // crc32

namespace actif {
namespace loader {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22, kZip64EndSize = 56, kZip64LocatorSize = 20;

[[noreturn]] void malformed(const std::string& what) {
  throw ModelFileError(FileErrorKind::Malformed, "not a readable actif model file: " + what);
}

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t u32(const uint8_t* p) { return static_cast<uint32_t>(u16(p)) | static_cast<uint32_t>(u16(p + 2)) << 16; }
uint64_t u64(const uint8_t* p) { return static_cast<uint64_t>(u32(p)) | static_cast<uint64_t>(u32(p + 4)) << 32; }

// True when [offset, offset + length) lies inside a buffer of `size` bytes (no overflow).
bool inside(uint64_t offset, uint64_t length, size_t size) {
  return offset <= size && length <= size - offset;
}

// Replaces 0xFFFFFFFF sizes/offsets of a central entry by the values of its zip64 extra
// field (id 1), which lists only the fields that overflowed, in this order.
void apply_zip64_extra(const uint8_t* extra, size_t len, uint64_t& size, uint64_t& csize, uint64_t& offset,
                       const std::string& name) {
  const bool want_size = size == 0xFFFFFFFFu, want_csize = csize == 0xFFFFFFFFu, want_off = offset == 0xFFFFFFFFu;
  if (!want_size && !want_csize && !want_off) return;
  size_t pos = 0;
  while (pos + 4 <= len) {
    const uint16_t id = u16(extra + pos), n = u16(extra + pos + 2);
    if (pos + 4 + n > len) break;
    if (id == 1) {
      const uint8_t* f = extra + pos + 4;
      size_t used = 0;
      for (uint64_t* field : {want_size ? &size : nullptr, want_csize ? &csize : nullptr, want_off ? &offset : nullptr}) {
        if (field == nullptr) continue;
        if (used + 8 > n) malformed("member '" + name + "' has a short zip64 extra field");
        *field = u64(f + used);
        used += 8;
      }
      return;
    }
    pos += 4 + size_t{n};
  }
  malformed("member '" + name + "' needs a zip64 extra field and has none");
}

}  // namespace

StoredZip::StoredZip(ByteView bytes) : bytes_(bytes) {
  const uint8_t* d = bytes.data;
  const size_t size = bytes.size;
  if (d == nullptr || size < kEndSize) malformed("too short to be a zip archive");
  // The end record is the last 22 bytes plus a comment of up to 64 KiB; it must end
  // exactly at the end of the data (np.savez writes no comment).
  size_t end_pos = size;
  for (size_t back = 0; back <= 0xFFFF && back + kEndSize <= size; ++back) {
    const size_t pos = size - kEndSize - back;
    if (u32(d + pos) == kEndSig && u16(d + pos + 20) == back) {
      end_pos = pos;
      break;
    }
  }
  if (end_pos == size) malformed("no zip end-of-directory record (truncated or not a zip)");
  const uint8_t* e = d + end_pos;
  if (u16(e + 4) != 0 || u16(e + 6) != 0 || u16(e + 8) != u16(e + 10))
    throw ModelFileError(FileErrorKind::Unsupported, "multi-disk zip archives are not supported");
  uint64_t count = u16(e + 10), cd_size = u32(e + 12), cd_offset = u32(e + 16);
  size_t cd_end = end_pos;  // where the central directory must end
  if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
    if (end_pos < kZip64LocatorSize || u32(d + end_pos - kZip64LocatorSize) != kZip64LocatorSig)
      malformed("zip64 end record locator missing");
    const uint64_t z_pos = u64(d + end_pos - kZip64LocatorSize + 8);
    if (!inside(z_pos, kZip64EndSize, end_pos - kZip64LocatorSize) || u32(d + z_pos) != kZip64EndSig)
      malformed("zip64 end record missing or out of bounds");
    const uint8_t* z = d + z_pos;
    if (u32(z + 16) != 0 || u32(z + 20) != 0 || u64(z + 24) != u64(z + 32))
      throw ModelFileError(FileErrorKind::Unsupported, "multi-disk zip archives are not supported");
    count = u64(z + 32);
    cd_size = u64(z + 40);
    cd_offset = u64(z + 48);
    cd_end = static_cast<size_t>(z_pos);
  }
  if (count > kMaxZipMembers)
    throw ModelFileError(FileErrorKind::Limit, "zip archive declares " + std::to_string(count) + " members (limit " +
                                                   std::to_string(kMaxZipMembers) + ")");
  if (!inside(cd_offset, cd_size, cd_end) || cd_offset + cd_size != cd_end)
    malformed("zip central directory does not fit the archive (truncated?)");
  if (count * kCentralSize > cd_size) malformed("zip central directory is shorter than its entry count");

  members_.reserve(static_cast<size_t>(count));  // bounded by kMaxZipMembers
  size_t pos = static_cast<size_t>(cd_offset);
  for (uint64_t i = 0; i < count; ++i) {
    if (!inside(pos, kCentralSize, cd_end) || u32(d + pos) != kCentralSig) malformed("corrupt zip central directory");
    const uint8_t* c = d + pos;
    const uint16_t flags = u16(c + 8), method = u16(c + 10);
    const size_t name_len = u16(c + 28), extra_len = u16(c + 30), comment_len = u16(c + 32);
    if (!inside(pos + kCentralSize, name_len + extra_len + comment_len, cd_end))
      malformed("corrupt zip central directory entry");
    Member m;
    m.name.assign(reinterpret_cast<const char*>(c + kCentralSize), name_len);
    m.crc = u32(c + 16);
    m.method = method;
    uint64_t csize = u32(c + 20);
    m.size = u32(c + 24);
    m.local_offset = u32(c + 42);
    apply_zip64_extra(c + kCentralSize + name_len, extra_len, m.size, csize, m.local_offset, m.name);
    if (flags & 0x1u)
      throw ModelFileError(FileErrorKind::Unsupported, "zip member '" + m.name + "' is encrypted");
    if (m.size > kMaxMemberBytes)
      throw ModelFileError(FileErrorKind::Limit, "zip member '" + m.name + "' declares " + std::to_string(m.size) +
                                                     " bytes (limit " + std::to_string(kMaxMemberBytes) + ")");
    if (method == 0 && csize != m.size) malformed("stored member '" + m.name + "' has differing sizes");
    if (find(m.name) != nullptr) malformed("zip archive holds member '" + m.name + "' twice");
    members_.push_back(std::move(m));
    pos += kCentralSize + name_len + extra_len + comment_len;
  }
}

const StoredZip::Member* StoredZip::find(const std::string& name) const {
  for (const Member& m : members_)
    if (m.name == name) return &m;
  return nullptr;
}

ByteView StoredZip::read(const std::string& name) const {
  const Member* m = find(name);
  if (m == nullptr) malformed("zip archive has no member '" + name + "'");
  if (m->method != 0)
    throw ModelFileError(FileErrorKind::Unsupported,
                         "zip member '" + name + "' is compressed (method " + std::to_string(m->method) +
                             "); the embedded reader takes uncompressed files as ModelSpec.save writes them");
  const uint8_t* d = bytes_.data;
  if (!inside(m->local_offset, kLocalSize, bytes_.size) || u32(d + m->local_offset) != kLocalSig)
    malformed("zip member '" + name + "' has no local header at its offset");
  const uint8_t* l = d + m->local_offset;
  const size_t name_len = u16(l + 26), extra_len = u16(l + 28);
  const uint64_t data_pos = m->local_offset + kLocalSize + name_len + extra_len;
  if (name_len != m->name.size() || !inside(m->local_offset + kLocalSize, name_len, bytes_.size) ||
      std::memcmp(l + kLocalSize, m->name.data(), name_len) != 0)
    malformed("zip member '" + name + "': local and central names differ");
  if (!inside(data_pos, m->size, bytes_.size))
    malformed("zip member '" + name + "' is truncated (" + std::to_string(m->size) + " bytes declared)");
  ByteView out{d + data_pos, static_cast<size_t>(m->size)};
  if (crc32(out.data, out.size) != m->crc) malformed("zip member '" + name + "' is corrupt (CRC-32 mismatch)");
  return out;
}

}  // namespace loader
}  // namespace actif
