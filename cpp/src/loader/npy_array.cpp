#include "npy_array.hpp"

#include <cstring>

#include "actif/model_file.hpp"

namespace actif {
namespace loader {

namespace {

// The .npy header is a Python dict literal, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (16, 6), }
// This reads that grammar: quoted keys, quoted strings, True/False and tuples of
// non-negative integers, in any key order.
class NpyHeaderParser {
 public:
  NpyHeaderParser(const std::string& text, const std::string& name) : s_(text), name_(name) {}

  void parse(std::string& descr, bool& fortran, std::vector<int64_t>& shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    expect('{');
    for (;;) {  // a trailing comma is allowed: numpy writes "..., }"
      space();
      if (eat('}')) break;
      const std::string key = quoted();
      space();
      expect(':');
      space();
      if (key == "descr" && !have_descr) {
        descr = quoted();
        have_descr = true;
      } else if (key == "fortran_order" && !have_fortran) {
        fortran = boolean();
        have_fortran = true;
      } else if (key == "shape" && !have_shape) {
        shape = tuple();
        have_shape = true;
      } else {
        fail("unexpected or repeated key '" + key + "'");
      }
      space();
      if (eat('}')) break;
      if (!eat(',')) fail("expected ',' or '}'");
    }
    space();
    if (pos_ != s_.size()) fail("trailing characters");
    if (!(have_descr && have_fortran && have_shape)) fail("needs the keys descr, fortran_order and shape");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ModelFileError(FileErrorKind::Malformed, "array '" + name_ + "' has a bad .npy header: " + what);
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  // Consumes `ch` if it comes next.
  bool eat(char ch) {
    if (peek() != ch) return false;
    ++pos_;
    return true;
  }
  void expect(char ch) {
    space();
    if (!eat(ch)) fail(std::string("expected '") + ch + "'");
  }
  std::string quoted() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const size_t end = s_.find(q, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    if (out.find('\\') != std::string::npos) fail("escapes are not expected");
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("fortran_order must be True or False");
  }
  std::vector<int64_t> tuple() {
    expect('(');
    std::vector<int64_t> dims;
    bool comma = false;
    for (;;) {
      space();
      if (eat(')')) break;
      if (!(peek() >= '0' && peek() <= '9')) fail("shape must be a tuple of non-negative integers");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        v = v * 10 + (s_[pos_++] - '0');
        if (v > (int64_t{1} << 40)) fail("shape dimension too large");
      }
      eat('L');  // Python 2 long suffix, still accepted by numpy
      dims.push_back(v);
      if (dims.size() > 32) fail("too many dimensions");
      space();
      if (eat(')')) break;
      if (!eat(',')) fail("expected ',' or ')' in shape");
      comma = true;
    }
    // "(5)" is the integer 5 in Python, not a tuple; numpy writes "(5,)".
    if (dims.size() == 1 && !comma) fail("shape must be a tuple");
    return dims;
  }

  const std::string& s_;
  const std::string& name_;
  size_t pos_ = 0;
};

}  // namespace

NpyView parse_npy(ByteView m, const std::string& name) {
  static const uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (m.size < 10 || std::memcmp(m.data, kMagic, 6) != 0)
    throw ModelFileError(FileErrorKind::Malformed, "array '" + name + "' is not a .npy member (bad magic)");
  const uint8_t major = m.data[6], minor = m.data[7];
  size_t header_len = 0, header_pos = 0;
  if (major == 1 && minor == 0) {
    header_len = static_cast<size_t>(m.data[8] | m.data[9] << 8);
    header_pos = 10;
  } else if (major == 2 && minor == 0 && m.size >= 12) {
    header_len = static_cast<size_t>(m.data[8]) | static_cast<size_t>(m.data[9]) << 8 |
                 static_cast<size_t>(m.data[10]) << 16 | static_cast<size_t>(m.data[11]) << 24;
    header_pos = 12;
  } else {
    throw ModelFileError(FileErrorKind::Unsupported, "array '" + name + "': unsupported .npy version " +
                                                         std::to_string(major) + "." + std::to_string(minor));
  }
  if (header_len > kMaxNpyHeaderBytes)
    throw ModelFileError(FileErrorKind::Limit, "array '" + name + "' has a .npy header of " +
                                                   std::to_string(header_len) + " bytes (limit " + std::to_string(kMaxNpyHeaderBytes) + ")");
  if (header_len > m.size - header_pos)
    throw ModelFileError(FileErrorKind::Malformed, "array '" + name + "' is truncated inside its .npy header");
  const std::string header(reinterpret_cast<const char*>(m.data + header_pos), header_len);
  std::string descr;
  bool fortran = false;
  NpyView out;
  NpyHeaderParser(header, name).parse(descr, fortran, out.shape);
  if (fortran) throw ModelFileError(FileErrorKind::Malformed, "array '" + name + "' is Fortran-ordered");
  size_t item = 0;
  if (descr == "<f4") {
    out.type = NpyType::Float32;
    item = 4;
  } else if (descr == "<f8") {
    out.type = NpyType::Float64;
    item = 8;
  } else if (descr == "|u1" || descr == "<u1" || descr == ">u1" || descr == "u1") {
    out.type = NpyType::UInt8;
    item = 1;
  } else {
    throw ModelFileError(FileErrorKind::Malformed,
                         "array '" + name + "' has dtype '" + descr + "', expected '<f4', '<f8' or '|u1'");
  }
  uint64_t bytes = item;  // a 0-d array holds one element
  for (const int64_t d : out.shape) {
    if (d != 0 && bytes > kMaxMemberBytes / static_cast<uint64_t>(d)) {
      bytes = kMaxMemberBytes + 1;
      break;
    }
    bytes *= static_cast<uint64_t>(d);
  }
  if (bytes > kMaxMemberBytes)
    throw ModelFileError(FileErrorKind::Limit,
                         "array '" + name + "' declares more than " + std::to_string(kMaxMemberBytes) + " bytes");
  const size_t data_pos = header_pos + header_len;
  if (bytes > m.size - data_pos)
    throw ModelFileError(FileErrorKind::Malformed, "array '" + name + "' is truncated (" +
                                                       std::to_string(m.size - data_pos) + " of " +
                                                       std::to_string(bytes) + " bytes)");
  out.data = ByteView{m.data + data_pos, static_cast<size_t>(bytes)};
  return out;
}

}  // namespace loader
}  // namespace actif
