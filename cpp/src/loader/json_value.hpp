// A minimal JSON parser for the model header: the whole grammar (RFC 8259, plus the
// NaN / Infinity literals that Python's json module writes), UTF-8 checked, nesting
// bounded. Integers and floats stay distinct, because the header's sizes must be
// integers as model_spec.py requires.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "actif/constants.hpp"

namespace actif {
namespace loader {

class JsonValue {
 public:
  enum class Kind { Null, Bool, Int, Float, String, Array, Object };
  static constexpr int kMaxDepth = static_cast<int>(limits::kMaxJsonDepth);  // constants.json

  // Parses a complete document; throws ModelFileError(Malformed) with the byte offset.
  static JsonValue parse(const char* text, size_t size);

  bool is(Kind k) const { return kind_ == k; }
  bool boolean() const { return bool_; }
  // Integers beyond int64 are clamped to its range (enough for range checks).
  int64_t integer() const { return int_; }
  double number() const { return kind_ == Kind::Int ? static_cast<double>(int_) : float_; }
  const std::string& string() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }
  // Object member by key (the last one when a key repeats, as Python's json does), or null.
  const JsonValue* get(const std::string& key) const;

 private:
  friend class JsonParser;
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  int64_t int_ = 0;
  double float_ = 0.0;
  std::string string_;
  std::vector<JsonValue> items_;              // array items, or object values
  std::vector<std::string> keys_;             // object keys, parallel to items_
};

// Number of Unicode code points in a valid UTF-8 string.
size_t utf8_length(const std::string& s);

}  // namespace loader
}  // namespace actif
