#include "json_value.hpp"

#include <limits>
#include <locale>
#include <sstream>

#include "actif/model_file.hpp"

namespace actif {
namespace loader {

namespace {

// Length of the valid UTF-8 sequence at p (strict: no overlongs, surrogates or values
// past U+10FFFF, as Python's decoder), or 0.
size_t utf8_sequence(const unsigned char* p, size_t left) {
  const unsigned char b = p[0];
  if (b < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (left < n || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < n; ++i)
    if ((p[i] & 0xC0) != 0x80) return 0;
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

class JsonParser {
 public:
  JsonParser(const char* text, size_t size) : p_(reinterpret_cast<const unsigned char*>(text)), n_(size) {}

  JsonValue document() {
    for (size_t i = 0; i < n_;) {
      const size_t len = utf8_sequence(p_ + i, n_ - i);
      if (len == 0) fail("invalid UTF-8", i);
      i += len;
    }
    JsonValue v = value(0);
    skip_space();
    if (pos_ != n_) fail("extra data after the JSON value", pos_);
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw ModelFileError(FileErrorKind::Malformed, "model header is not valid JSON: " + what + " at byte " +
                                                       std::to_string(at));
  }
  void skip_space() {
    while (pos_ < n_ && (p_[pos_] == ' ' || p_[pos_] == '\t' || p_[pos_] == '\n' || p_[pos_] == '\r')) ++pos_;
  }
  // Consumes `ch` if it comes next.
  bool eat(char ch) {
    if (pos_ >= n_ || p_[pos_] != static_cast<unsigned char>(ch)) return false;
    ++pos_;
    return true;
  }
  bool literal(const char* word) {
    size_t i = 0;
    while (word[i] != '\0') {
      if (pos_ + i >= n_ || p_[pos_ + i] != static_cast<unsigned char>(word[i])) return false;
      ++i;
    }
    pos_ += i;
    return true;
  }

  JsonValue value(int depth) {
    if (depth > JsonValue::kMaxDepth) fail("nesting deeper than " + std::to_string(JsonValue::kMaxDepth), pos_);
    skip_space();
    if (pos_ >= n_) fail("unexpected end", pos_);
    JsonValue v;
    const unsigned char ch = p_[pos_];
    if (eat('{')) {
      v.kind_ = JsonValue::Kind::Object;
      skip_space();
      if (eat('}')) return v;
      do {
        skip_space();
        if (pos_ >= n_ || p_[pos_] != '"') fail("expected a string key", pos_);
        v.keys_.push_back(string());
        skip_space();
        if (!eat(':')) fail("expected ':'", pos_);
        v.items_.push_back(value(depth + 1));
        skip_space();
      } while (eat(','));
      if (!eat('}')) fail("expected ',' or '}'", pos_);
      return v;
    }
    if (eat('[')) {
      v.kind_ = JsonValue::Kind::Array;
      skip_space();
      if (eat(']')) return v;
      do {
        v.items_.push_back(value(depth + 1));
        skip_space();
      } while (eat(','));
      if (!eat(']')) fail("expected ',' or ']'", pos_);
      return v;
    }
    if (ch == '"') {
      v.kind_ = JsonValue::Kind::String;
      v.string_ = string();
      return v;
    }
    if (literal("true")) return boolean(true);
    if (literal("false")) return boolean(false);
    if (literal("null")) return v;
    if (literal("NaN")) return special(std::numeric_limits<double>::quiet_NaN());
    if (literal("Infinity")) return special(std::numeric_limits<double>::infinity());
    if (literal("-Infinity")) return special(-std::numeric_limits<double>::infinity());
    return number();
  }

  static JsonValue boolean(bool b) {
    JsonValue v;
    v.kind_ = JsonValue::Kind::Bool;
    v.bool_ = b;
    return v;
  }

  static JsonValue special(double x) {
    JsonValue v;
    v.kind_ = JsonValue::Kind::Float;
    v.float_ = x;
    return v;
  }

  JsonValue number() {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t s = pos_;
      while (pos_ < n_ && p_[pos_] >= '0' && p_[pos_] <= '9') ++pos_;
      return pos_ - s;
    };
    if (pos_ < n_ && p_[pos_] == '-') ++pos_;
    const size_t int_start = pos_;
    const size_t int_digits = digits();
    if (int_digits == 0) fail("unexpected character", start);
    if (int_digits > 1 && p_[int_start] == '0') fail("leading zero in a number", start);
    bool is_float = false;
    if (pos_ < n_ && p_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) fail("digits expected after '.'", pos_);
      is_float = true;
    }
    if (pos_ < n_ && (p_[pos_] == 'e' || p_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < n_ && (p_[pos_] == '+' || p_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail("digits expected in an exponent", pos_);
      is_float = true;
    }
    JsonValue v;
    const std::string text(reinterpret_cast<const char*>(p_ + start), pos_ - start);
    if (!is_float) {
      v.kind_ = JsonValue::Kind::Int;
      const bool negative = text[0] == '-';
      uint64_t mag = 0;
      bool overflow = false;
      for (size_t i = negative ? 1 : 0; i < text.size(); ++i) {
        const uint64_t dgt = static_cast<uint64_t>(text[i] - '0');
        if (mag > (uint64_t{1} << 63) / 10) overflow = true;
        mag = mag * 10 + dgt;
        if (mag > (uint64_t{1} << 63)) overflow = true;
      }
      const int64_t big = std::numeric_limits<int64_t>::max();
      if (overflow || (!negative && mag > static_cast<uint64_t>(big)))
        v.int_ = negative ? std::numeric_limits<int64_t>::min() : big;
      else
        v.int_ = negative ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
      return v;
    }
    // Locale-independent conversion (an app may have set a decimal comma).
    std::istringstream in(text);
    in.imbue(std::locale::classic());
    double x = 0.0;
    in >> x;
    v.kind_ = JsonValue::Kind::Float;
    v.float_ = in.fail() ? (text[0] == '-' ? -std::numeric_limits<double>::infinity()
                                           : std::numeric_limits<double>::infinity())
                         : x;
    return v;
  }

  uint32_t hex4() {
    if (pos_ + 4 > n_) fail("short \\u escape", pos_);
    uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      const unsigned char h = p_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= h - '0';
      else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10u;
      else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10u;
      else fail("bad \\u escape", pos_ - 1);
    }
    return cp;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= n_) fail("unterminated string", pos_);
      const unsigned char ch = p_[pos_];
      if (ch == '"') {
        ++pos_;
        return out;
      }
      if (ch < 0x20) fail("control character in a string", pos_);
      if (ch != '\\') {
        out += static_cast<char>(ch);
        ++pos_;
        continue;
      }
      if (++pos_ >= n_) fail("unterminated escape", pos_);
      const unsigned char esc = p_[pos_++];
      switch (esc) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!(pos_ + 1 < n_ && p_[pos_] == '\\' && p_[pos_ + 1] == 'u')) fail("unpaired surrogate", pos_);
            pos_ += 2;
            const uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate", pos_);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired surrogate", pos_);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail("bad escape", pos_ - 1);
      }
    }
  }

  const unsigned char* p_;
  size_t n_;
  size_t pos_ = 0;
};

JsonValue JsonValue::parse(const char* text, size_t size) { return JsonParser(text, size).document(); }

const JsonValue* JsonValue::get(const std::string& key) const {
  for (size_t i = keys_.size(); i-- > 0;)
    if (keys_[i] == key) return &items_[i];
  return nullptr;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (const char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  return n;
}

}  // namespace loader
}  // namespace actif
