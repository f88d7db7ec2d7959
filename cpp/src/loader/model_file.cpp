// The model file's meaning: the JSON header's layer list, read in the order and with
// the checks of model_spec.py (_spec_from_zip and ModelSpec.validate), then the arrays
// it names, handed to ModelBuilder.
#include "actif/model_file.hpp"

#include <cstdio>
#include <cstring>
#include <set>

#include "json_value.hpp"
#include "npy_array.hpp"
#include "stored_zip.hpp"

namespace actif {

namespace {

using loader::ByteView;
using loader::JsonValue;

[[noreturn]] void malformed(const std::string& what) { throw ModelFileError(FileErrorKind::Malformed, what); }

// One float32 array read from member "<name>.npy", checked against `shape`.
// `budget` is what all arrays together may still take (kMaxModelBytes), as model_spec.py counts it.
std::vector<float> read_floats(const loader::StoredZip& zip, const std::string& name,
                               const std::vector<int64_t>& shape, uint64_t& budget) {
  const loader::NpyView npy = loader::parse_npy(zip.read(name + ".npy"), name);
  if (npy.type == loader::NpyType::UInt8)
    malformed("array '" + name + "' has dtype uint8, expected float32 or float64");
  if (npy.shape != shape) {
    auto str = [](const std::vector<int64_t>& s) {
      std::string o = "(";
      for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
      return o + (s.size() == 1 ? ",)" : ")");
    };
    malformed("array '" + name + "' has shape " + str(npy.shape) + ", header says " + str(shape));
  }
  if (npy.data.size > budget)
    malformed("model arrays declare more than " + std::to_string(kMaxModelBytes) + " bytes in total");
  budget -= npy.data.size;
  // NaN and Inf (a float64 beyond float32's range included) are left to ModelBuilder,
  // which checks every array it is given.
  const size_t count = npy.data.size / (npy.type == loader::NpyType::Float32 ? 4 : 8);
  std::vector<float> out(count);  // bounded by the bytes present (parse_npy checked)
  for (size_t i = 0; i < count; ++i) {
    if (npy.type == loader::NpyType::Float32) {
      std::memcpy(&out[i], npy.data.data + 4 * i, 4);  // little-endian, like all supported targets
    } else {
      double v;
      std::memcpy(&v, npy.data.data + 8 * i, 8);
      out[i] = static_cast<float>(v);
    }
  }
  return out;
}

const JsonValue& member(const JsonValue& obj, const char* key, JsonValue::Kind kind, const std::string& where) {
  const JsonValue* v = obj.get(key);
  if (v == nullptr) malformed(where + ": missing '" + key + "'");
  if (!v->is(kind)) malformed(where + ": '" + key + "' has the wrong type");
  return *v;
}

int64_t dim(const JsonValue& obj, const char* key, const std::string& where) {
  const int64_t v = member(obj, key, JsonValue::Kind::Int, where).integer();
  if (v < 1 || v > kMaxDim)
    malformed(where + ": " + key + "=" + std::to_string(v) + " out of range [1, " + std::to_string(kMaxDim) + "]");
  return v;
}

// Names from the header (checked as model_spec._check_names), or generated ones.
std::vector<std::string> names(const JsonValue& header, const char* key, int64_t n, const char* prefix) {
  std::vector<std::string> out;
  const JsonValue* v = header.get(key);
  if (v == nullptr) {
    for (int64_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
    return out;
  }
  if (!v->is(JsonValue::Kind::Array)) malformed(std::string("header: ") + key + " must be a list");
  bool ok = static_cast<int64_t>(v->items().size()) == n;
  for (size_t i = 0; ok && i < v->items().size(); ++i) {
    const JsonValue& s = v->items()[i];
    ok = s.is(JsonValue::Kind::String) && !s.string().empty() && loader::utf8_length(s.string()) <= 256;
    if (ok) out.push_back(s.string());
  }
  if (!ok) malformed(std::string(key) + " must be " + std::to_string(n) + " non-empty strings");
  if (std::set<std::string>(out.begin(), out.end()).size() != out.size())
    malformed(std::string(key) + " must be unique");
  return out;
}

// Python compares the version with ==, so 1, 1.0 and true all equal FORMAT_VERSION.
bool is_version_one(const JsonValue* v) {
  if (v == nullptr) return false;
  if (v->is(JsonValue::Kind::Int) || v->is(JsonValue::Kind::Float)) return v->number() == 1.0;
  return v->is(JsonValue::Kind::Bool) && v->boolean();
}

ModelFile parse_model(const uint8_t* data, size_t size) {
  const loader::StoredZip zip(ByteView{data, size});
  const loader::NpyView raw = loader::parse_npy(zip.read("header.npy"), "header");
  if (raw.type != loader::NpyType::UInt8)
    malformed("array 'header' has the wrong dtype, expected uint8");
  if (raw.shape.size() != 1 || raw.data.size > kMaxHeaderBytes) malformed("model header is malformed or too large");
  const JsonValue header = JsonValue::parse(reinterpret_cast<const char*>(raw.data.data), raw.data.size);

  const JsonValue* format = header.is(JsonValue::Kind::Object) ? header.get("format") : nullptr;
  if (format == nullptr || !format->is(JsonValue::Kind::String) || format->string() != "actif.model")
    malformed("not an actif model (header 'format' is missing or wrong)");
  if (!is_version_one(header.get("version")))
    throw ModelFileError(FileErrorKind::Unsupported,
                         "model format version is not supported (this actif reads version 1)");
  const JsonValue& layers = member(header, "layers", JsonValue::Kind::Array, "header");
  if (layers.items().size() > kMaxLayers + 3) malformed("too many layers");
  const int64_t window = dim(header, "window", "header");

  // Layers must come in this order: input affine, LSTM, pool, affine, dense.
  enum Stage { kInput, kLstm, kPool, kAffine, kDense };
  ModelBuilder builder;
  uint64_t budget = kMaxModelBytes;
  Stage stage = kInput;
  int64_t lstm_count = 0, dense_count = 0;
  for (size_t pos = 0; pos < layers.items().size(); ++pos) {
    const JsonValue& layer = layers.items()[pos];
    const std::string where = "layer " + std::to_string(pos);
    if (!layer.is(JsonValue::Kind::Object)) malformed(where + ": not an object");
    const std::string& kind = member(layer, "type", JsonValue::Kind::String, where).string();
    if (kind == "input_affine" && stage == kInput && pos == 0) {
      const int64_t n = dim(layer, "size", where);
      const auto scale = read_floats(zip, "input.scale", {n}, budget), shift = read_floats(zip, "input.shift", {n}, budget);
      builder.input_affine(n, scale.data(), shift.data());
    } else if (kind == "lstm" && stage <= kLstm) {
      stage = kLstm;
      // ModelBuilder::lstm checks that i matches the previous layer.
      const int64_t i = dim(layer, "input_size", where), h = dim(layer, "hidden_size", where);
      const std::string k = "lstm." + std::to_string(lstm_count);
      const auto w_ih = read_floats(zip, k + ".w_ih", {4 * h, i}, budget), w_hh = read_floats(zip, k + ".w_hh", {4 * h, h}, budget);
      const auto b_ih = read_floats(zip, k + ".b_ih", {4 * h}, budget), b_hh = read_floats(zip, k + ".b_hh", {4 * h}, budget);
      builder.lstm(i, h, w_ih.data(), w_hh.data(), b_ih.data(), b_hh.data());
      ++lstm_count;
    } else if (kind == "pool" && stage == kLstm) {
      stage = kPool;
      builder.pooling(parse_pooling(member(layer, "mode", JsonValue::Kind::String, where).string()), window);
    } else if (kind == "affine" && stage == kPool) {
      stage = kAffine;
      const int64_t n = dim(layer, "size", where);
      const auto scale = read_floats(zip, "post.scale", {n}, budget), shift = read_floats(zip, "post.shift", {n}, budget);
      builder.post_affine(n, scale.data(), shift.data());
    } else if (kind == "dense" && stage >= kPool) {
      stage = kDense;
      const int64_t i = dim(layer, "in", where), o = dim(layer, "out", where);
      const std::string k = "dense." + std::to_string(dense_count);
      const auto w = read_floats(zip, k + ".weight", {o, i}, budget), b = read_floats(zip, k + ".bias", {o}, budget);
      const Activation act = parse_activation(member(layer, "activation", JsonValue::Kind::String, where).string());
      builder.dense(i, o, w.data(), b.data(), act);
      ++dense_count;
    } else {
      malformed(where + ": unexpected layer type '" + kind + "' at this position");
    }
  }
  if (stage < kPool) malformed("model has no LSTM layer or no pooling layer");
  if (static_cast<size_t>(lstm_count + dense_count) > kMaxLayers)
    malformed("too many layers (limit " + std::to_string(kMaxLayers) + ")");
  const JsonValue* meta = header.get("metadata");
  if (meta != nullptr && !meta->is(JsonValue::Kind::Object)) malformed("header: metadata must be an object");

  ModelFile out;
  out.model = builder.build();
  out.feature_names = names(header, "feature_names", out.model.input_size, "f");
  out.output_names = names(header, "output_names", out.model.output_size(), "y");
  return out;
}

}  // namespace

ModelFile load_model_npz(const uint8_t* data, size_t size) {
  try {
    return parse_model(data, size);
  } catch (const ModelFileError&) {
    throw;
  } catch (const Error& e) {  // ModelBuilder's checks: sizes, pooling and activation names, NaN
    malformed(e.what());
  }
}

ModelFile load_model_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw ModelFileError(FileErrorKind::Io, "cannot open model file '" + path + "'");
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  if (std::fseek(f, 0, SEEK_END) != 0) throw ModelFileError(FileErrorKind::Io, "cannot seek in '" + path + "'");
  const long end = std::ftell(f);
  if (end < 0) throw ModelFileError(FileErrorKind::Io, "cannot tell the size of '" + path + "'");
  if (static_cast<uint64_t>(end) > kMaxModelFileBytes)
    throw ModelFileError(FileErrorKind::Limit, "model file '" + path + "' is larger than 2 GiB");
  std::rewind(f);
  std::vector<uint8_t> bytes(static_cast<size_t>(end));  // the file's real size, not a declared one
  if (!bytes.empty() && std::fread(bytes.data(), 1, bytes.size(), f) != bytes.size())
    throw ModelFileError(FileErrorKind::Io, "cannot read model file '" + path + "'");
  return load_model_npz(bytes.data(), bytes.size());
}

}  // namespace actif
