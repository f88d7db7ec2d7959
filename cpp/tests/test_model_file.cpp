// The .npz model reader: it loads what Python writes (the committed fixture and
// archives built here member by member) and refuses, with the right error kind, every
// malformed, hostile or unsupported variant, without allocating what a file declares.
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "actif/forward.hpp"
#include "actif/model_file.hpp"
#include "actif/running_stats.hpp"
#include "harness.hpp"
#include "reference.hpp"

using namespace actif_test;
using actif::FileErrorKind;

namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, v & 0xFFFF);
  put16(b, v >> 16);
}

// A .npy member: magic, version, padded dict header, raw data.
Bytes npy(const std::string& descr, const std::string& shape, const Bytes& data, int major = 1,
          const char* fortran = "False") {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  Bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  if (major == 1) put16(out, static_cast<uint32_t>(header.size()));
  else put32(out, static_cast<uint32_t>(header.size()));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes f32_bytes(const std::vector<double>& v) {
  Bytes out(v.size() * 4);
  for (size_t i = 0; i < v.size(); ++i) {
    const float f = static_cast<float>(v[i]);
    std::memcpy(out.data() + 4 * i, &f, 4);
  }
  return out;
}

Bytes f64_bytes(const std::vector<double>& v) {
  Bytes out(v.size() * 8);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::string shape2(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }
std::string shape1(int64_t a) { return "(" + std::to_string(a) + ",)"; }

// Members of a zip archive, written STORED like np.savez (or otherwise, to test refusals).
struct ZipEntry {
  std::string name;
  Bytes data;
  uint16_t method = 0;
  uint16_t flags = 0;
  bool bad_crc = false;
  uint32_t declared_size = 0xFFFFFFFFu;  // 0xFFFFFFFF: the real size
};

Bytes zip(const std::vector<ZipEntry>& entries) {
  Bytes out, cd;
  for (const ZipEntry& e : entries) {
    const uint32_t offset = static_cast<uint32_t>(out.size());
    const uint32_t crc = actif::crc32(e.data.data(), e.data.size()) ^ (e.bad_crc ? 1u : 0u);
    const uint32_t size = e.declared_size != 0xFFFFFFFFu ? e.declared_size : static_cast<uint32_t>(e.data.size());
    put32(out, 0x04034b50);
    for (uint32_t v : {20u, uint32_t{e.flags}, uint32_t{e.method}, 0u, 0u}) put16(out, v);
    put32(out, crc);
    put32(out, size);
    put32(out, size);
    put16(out, static_cast<uint32_t>(e.name.size()));
    put16(out, 0);
    out.insert(out.end(), e.name.begin(), e.name.end());
    out.insert(out.end(), e.data.begin(), e.data.end());
    put32(cd, 0x02014b50);
    for (uint32_t v : {20u, 20u, uint32_t{e.flags}, uint32_t{e.method}, 0u, 0u}) put16(cd, v);
    put32(cd, crc);
    put32(cd, size);
    put32(cd, size);
    put16(cd, static_cast<uint32_t>(e.name.size()));
    for (int i = 0; i < 4; ++i) put16(cd, 0);
    put32(cd, 0);
    put32(cd, offset);
    cd.insert(cd.end(), e.name.begin(), e.name.end());
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out.insert(out.end(), cd.begin(), cd.end());
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint32_t>(entries.size()));
  put16(out, static_cast<uint32_t>(entries.size()));
  put32(out, static_cast<uint32_t>(cd.size()));
  put32(out, cd_offset);
  put16(out, 0);
  return out;
}

// The model the archives below hold: I=5, H=8, mean pooling, both affines, dense 4 -> 2.
RefModel small_ref() {
  ModelShape s;
  s.pooling = actif::Pooling::Mean;
  s.window = 4;
  return random_ref_model(s, 31);
}

const char* kHeader =
    "{\"feature_names\": [\"a\", \"b\", \"c\", \"d\", \"e\"], \"format\": \"actif.model\", \"layers\": "
    "[{\"size\": 5, \"type\": \"input_affine\"}, {\"hidden_size\": 8, \"input_size\": 5, \"type\": \"lstm\"}, "
    "{\"mode\": \"mean\", \"type\": \"pool\"}, {\"size\": 8, \"type\": \"affine\"}, "
    "{\"activation\": \"relu\", \"in\": 8, \"out\": 4, \"type\": \"dense\"}, "
    "{\"activation\": \"identity\", \"in\": 4, \"out\": 2, \"type\": \"dense\"}], \"metadata\": {}, "
    "\"output_names\": [\"y0\", \"y1\"], \"version\": 1, \"window\": 4}";

std::vector<ZipEntry> members(const RefModel& r, const std::string& header, bool float64 = false) {
  auto arr = [&](const std::vector<double>& v) { return float64 ? f64_bytes(v) : f32_bytes(v); };
  const std::string d = float64 ? "<f8" : "<f4";
  const Bytes h(header.begin(), header.end());
  const RefLstm& l = r.lstm[0];
  return {
      {"header.npy", npy("|u1", shape1(static_cast<int64_t>(h.size())), h)},
      {"input.scale.npy", npy(d, shape1(5), arr(r.in_scale))},
      {"input.shift.npy", npy(d, shape1(5), arr(r.in_shift))},
      {"lstm.0.w_ih.npy", npy(d, shape2(32, 5), arr(l.w_ih))},
      {"lstm.0.w_hh.npy", npy(d, shape2(32, 8), arr(l.w_hh))},
      {"lstm.0.b_ih.npy", npy(d, shape1(32), arr(l.b_ih))},
      {"lstm.0.b_hh.npy", npy(d, shape1(32), arr(l.b_hh))},
      {"post.scale.npy", npy(d, shape1(8), arr(r.post_scale))},
      {"post.shift.npy", npy(d, shape1(8), arr(r.post_shift))},
      {"dense.0.weight.npy", npy(d, shape2(4, 8), arr(r.dense[0].w))},
      {"dense.0.bias.npy", npy(d, shape1(4), arr(r.dense[0].b))},
      {"dense.1.weight.npy", npy(d, shape2(2, 4), arr(r.dense[1].w))},
      {"dense.1.bias.npy", npy(d, shape1(2), arr(r.dense[1].b))},
  };
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// The member called `name`; a misspelt name fails the test (the harness reports the
// exception) instead of quietly editing another member.
ZipEntry& entry(std::vector<ZipEntry>& es, const std::string& name) {
  for (auto& e : es)
    if (e.name == name) return e;
  throw std::logic_error("test bug: no zip member named '" + name + "'");
}

// The kind of error loading `bytes` raises, or "ok".
std::string outcome(const Bytes& bytes, std::string* message = nullptr) {
  try {
    actif::load_model_npz(bytes.data(), bytes.size());
  } catch (const actif::ModelFileError& e) {
    if (message) *message = e.what();
    switch (e.kind()) {
      case FileErrorKind::Io: return "io";
      case FileErrorKind::Malformed: return "malformed";
      case FileErrorKind::Unsupported: return "unsupported";
      case FileErrorKind::Limit: return "limit";
    }
  } catch (const std::exception& e) {
    if (message) *message = e.what();
    return std::string("other exception: ") + e.what();
  }
  return "ok";
}

#define EXPECT_OUTCOME(bytes, want)                                                               \
  do {                                                                                            \
    std::string msg_;                                                                             \
    const std::string got_ = outcome(bytes, &msg_);                                               \
    CHECK_MSG(got_ == (want), std::string("expected ") + (want) + ", got " + got_ + " (" + msg_ + ")"); \
  } while (0)

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<float> predict(const actif::Model& m, const std::vector<float>& x, int64_t n, int64_t t) {
  std::vector<float> y(static_cast<size_t>(n * m.output_size()));
  actif::window_forward(m, window_request(x.data(), n, t, y.data()));
  return y;
}

}  // namespace

TEST_CASE(model_file, loads_archives_like_python_writes) {
  const RefModel ref = small_ref();
  const actif::Model direct = build_model(ref);
  Rng rng(5);
  const std::vector<float> x = rng.uniform_vec(3 * 4 * 5, -2.0f, 2.0f);
  const std::vector<float> want = predict(direct, x, 3, 4);
  for (const bool f64 : {false, true}) {
    const Bytes file = zip(members(ref, kHeader, f64));
    const actif::ModelFile mf = actif::load_model_npz(file.data(), file.size());
    CHECK(mf.model.input_size == 5 && mf.model.output_size() == 2 && mf.model.window == 4);
    CHECK(mf.model.pooling == actif::Pooling::Mean);
    CHECK(mf.feature_names == std::vector<std::string>({"a", "b", "c", "d", "e"}));
    CHECK(mf.output_names == std::vector<std::string>({"y0", "y1"}));
    CHECK_MSG(predict(mf.model, x, 3, 4) == want, f64 ? "float64 arrays" : "float32 arrays");
  }
  // Accepted variants: .npy 2.0 members, version written as 1.0, names generated when
  // absent, metadata with NaN (Python's json writes it), escaped UTF-8 names.
  std::vector<ZipEntry> es = members(ref, kHeader);
  const Bytes w = f32_bytes(ref.lstm[0].w_hh);
  entry(es, "lstm.0.w_hh.npy").data = npy("<f4", shape2(32, 8), w, 2);
  EXPECT_OUTCOME(zip(es), "ok");
  EXPECT_OUTCOME(zip(members(ref, replaced(kHeader, "\"version\": 1", "\"version\": 1.0"))), "ok");
  const std::string unnamed = replaced(kHeader, "\"feature_names\": [\"a\", \"b\", \"c\", \"d\", \"e\"], ", "");
  const Bytes f = zip(members(ref, unnamed));
  CHECK(actif::load_model_npz(f.data(), f.size()).feature_names[4] == "f4");
  EXPECT_OUTCOME(zip(members(ref, replaced(kHeader, "\"metadata\": {}", "\"metadata\": {\"loss\": NaN, \"x\": [1e-3, -Infinity]}"))), "ok");
  const Bytes esc = zip(members(ref, replaced(kHeader, "\"a\", \"b\"", "\"h\\u00e9ad\", \"\\ud83d\\ude00\"")));
  const actif::ModelFile mf = actif::load_model_npz(esc.data(), esc.size());
  CHECK(mf.feature_names[0] == "h\xc3\xa9" "ad" && mf.feature_names[1] == "\xf0\x9f\x98\x80");
}

TEST_CASE(model_file, refuses_bad_zips) {
  const RefModel ref = small_ref();
  const Bytes good = zip(members(ref, kHeader));
  EXPECT_OUTCOME(good, "ok");
  EXPECT_OUTCOME(Bytes(), "malformed");
  EXPECT_OUTCOME(Bytes(100, 0x41), "malformed");
  // Every truncation is refused (most cut the end record, the rest the members).
  for (size_t cut = 0; cut < good.size(); cut += 13) {
    const Bytes b(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_MSG(outcome(b) != "ok" && outcome(b).rfind("other", 0) != 0, "truncated at " + std::to_string(cut));
  }
  std::vector<ZipEntry> es = members(ref, kHeader);
  entry(es, "lstm.0.w_ih.npy").method = 8;  // deflate
  EXPECT_OUTCOME(zip(es), "unsupported");
  es = members(ref, kHeader);
  entry(es, "dense.0.bias.npy").flags = 1;  // encrypted
  EXPECT_OUTCOME(zip(es), "unsupported");
  es = members(ref, kHeader);
  entry(es, "post.scale.npy").bad_crc = true;
  EXPECT_OUTCOME(zip(es), "malformed");
  es = members(ref, kHeader);
  entry(es, "lstm.0.b_ih.npy").declared_size = 0x7FFFFFF0u;  // 2 GiB declared, 150 bytes present
  EXPECT_OUTCOME(zip(es), "limit");
  es = members(ref, kHeader);
  entry(es, "lstm.0.b_ih.npy").declared_size = 100000;  // under the limit, past the end of the file
  EXPECT_OUTCOME(zip(es), "malformed");
  es = members(ref, kHeader);
  es.push_back(es[3]);  // a member twice
  EXPECT_OUTCOME(zip(es), "malformed");
  es = members(ref, kHeader);
  es.erase(es.begin() + 4);  // lstm.0.w_hh missing
  EXPECT_OUTCOME(zip(es), "malformed");
  // Flipped bytes: refused or (where the flip hits a field nobody reads) loaded, never a crash.
  for (size_t i = 0; i < good.size(); i += 29) {
    Bytes b = good;
    b[i] ^= 0x5A;
    const std::string o = outcome(b);
    CHECK_MSG(o.rfind("other", 0) != 0, "flip at " + std::to_string(i) + ": " + o);
  }
}

TEST_CASE(model_file, refuses_bad_arrays) {
  const RefModel ref = small_ref();
  const Bytes w = f32_bytes(ref.lstm[0].w_ih);
  auto with = [&](const Bytes& member) {
    std::vector<ZipEntry> es = members(ref, kHeader);
    entry(es, "lstm.0.w_ih.npy").data = member;
    return zip(es);
  };
  EXPECT_OUTCOME(with(npy("<f4", shape2(32, 5), w)), "ok");
  EXPECT_OUTCOME(with(npy("<i4", shape2(32, 5), w)), "malformed");
  EXPECT_OUTCOME(with(npy(">f4", shape2(32, 5), w)), "malformed");
  EXPECT_OUTCOME(with(npy("<f2", shape2(32, 5), w)), "malformed");
  EXPECT_OUTCOME(with(npy("|u1", shape2(32, 5), w)), "malformed");
  EXPECT_OUTCOME(with(npy("<f4", shape2(32, 5), w, 1, "True")), "malformed");
  EXPECT_OUTCOME(with(npy("<f4", shape2(5, 32), w)), "malformed");
  EXPECT_OUTCOME(with(npy("<f4", "(160,)", w)), "malformed");
  EXPECT_OUTCOME(with(npy("<f4", "(160)", w)), "malformed");
  EXPECT_OUTCOME(with(npy("<f4", shape2(32, 5), Bytes(w.begin(), w.end() - 4))), "malformed");
  EXPECT_OUTCOME(with(npy("<f4", shape2(32, 5), w, 3)), "unsupported");
  // A huge declared shape is refused from the header alone (nothing is allocated).
  EXPECT_OUTCOME(with(npy("<f4", shape2(1000000, 1000000), w)), "limit");
  EXPECT_OUTCOME(with(npy("<f4", shape2(4000, 5), w)), "malformed");
  Bytes bad_magic = npy("<f4", shape2(32, 5), w);
  bad_magic[1] = 'X';
  EXPECT_OUTCOME(with(bad_magic), "malformed");
  Bytes long_header = npy("<f4", shape2(32, 5), w);
  long_header[8] = 0xFF;
  long_header[9] = 0xFF;  // 65535-byte .npy header
  EXPECT_OUTCOME(with(long_header), "limit");
  std::vector<double> nan_w = ref.lstm[0].w_ih;
  nan_w[17] = std::nan("");
  EXPECT_OUTCOME(with(npy("<f4", shape2(32, 5), f32_bytes(nan_w))), "malformed");
  EXPECT_OUTCOME(with(npy("<f8", shape2(32, 5), f64_bytes(nan_w))), "malformed");
  std::vector<double> huge_w = ref.lstm[0].w_ih;
  huge_w[3] = 1e300;  // finite as float64, Inf as float32
  EXPECT_OUTCOME(with(npy("<f8", shape2(32, 5), f64_bytes(huge_w))), "malformed");
  // NaN and Inf are refused in every array, and the message names the layer.
  std::vector<double> inf_bias = ref.dense[1].b;
  inf_bias[1] = -INFINITY;
  std::vector<ZipEntry> bad_es = members(ref, kHeader);
  entry(bad_es, "dense.1.bias.npy").data = npy("<f4", shape1(2), f32_bytes(inf_bias));
  std::string msg;
  CHECK(outcome(zip(bad_es), &msg) == "malformed" && msg == "bias of dense layer 1 contains NaN or Inf");
  // The header member must be a 1-D uint8 array.
  std::vector<ZipEntry> es = members(ref, kHeader);
  const std::string h = kHeader;
  entry(es, "header.npy").data = npy("<f4", shape1(static_cast<int64_t>(h.size() / 4)), Bytes(h.begin(), h.end()));
  EXPECT_OUTCOME(zip(es), "malformed");
  entry(es, "header.npy").data = npy("|u1", "(1, " + std::to_string(h.size()) + ")", Bytes(h.begin(), h.end()));
  EXPECT_OUTCOME(zip(es), "malformed");
}

TEST_CASE(model_file, refuses_bad_headers) {
  const RefModel ref = small_ref();
  const std::string H = kHeader;
  auto header = [&](const std::string& from, const std::string& to) { return zip(members(ref, replaced(H, from, to))); };
  EXPECT_OUTCOME(header("{", "["), "malformed");                                   // not JSON
  EXPECT_OUTCOME(zip(members(ref, "[1, 2]")), "malformed");                         // not an object
  EXPECT_OUTCOME(zip(members(ref, H + " x")), "malformed");                         // trailing data
  EXPECT_OUTCOME(zip(members(ref, "\xef\xbb\xbf" + H)), "malformed");               // BOM
  EXPECT_OUTCOME(header("\"a\"", "\"\xff\""), "malformed");                         // invalid UTF-8
  EXPECT_OUTCOME(header("\"a\"", "\"\\ud800\""), "malformed");                      // lone surrogate
  EXPECT_OUTCOME(header("actif.model", "actif.mode1"), "malformed");
  EXPECT_OUTCOME(header("\"version\": 1", "\"version\": 2"), "unsupported");
  EXPECT_OUTCOME(header("\"version\": 1", "\"version\": \"1\""), "unsupported");
  EXPECT_OUTCOME(header("\"window\": 4", "\"window\": 0"), "malformed");
  EXPECT_OUTCOME(header("\"window\": 4", "\"window\": 4.0"), "malformed");
  EXPECT_OUTCOME(header("\"window\": 4", "\"window\": true"), "malformed");
  EXPECT_OUTCOME(header("\"window\": 4", "\"window\": 99999999999999999999999"), "malformed");
  EXPECT_OUTCOME(header(", \"window\": 4", ""), "malformed");
  EXPECT_OUTCOME(header("\"mode\": \"mean\"", "\"mode\": \"median\""), "malformed");
  EXPECT_OUTCOME(header("\"activation\": \"relu\"", "\"activation\": \"gelu\""), "malformed");
  EXPECT_OUTCOME(header("\"hidden_size\": 8", "\"hidden_size\": 9"), "malformed");     // arrays are 4*8
  EXPECT_OUTCOME(header("\"input_size\": 5", "\"input_size\": 6"), "malformed");       // input affine is 5
  {  // an input affine of 6 (arrays included) before an LSTM taking 5: ModelBuilder refuses it
    std::vector<ZipEntry> es = members(ref, replaced(H, "\"size\": 5", "\"size\": 6"));
    entry(es, "input.scale.npy").data = npy("<f4", shape1(6), f32_bytes(std::vector<double>(6, 1.0)));
    entry(es, "input.shift.npy").data = npy("<f4", shape1(6), f32_bytes(std::vector<double>(6, 0.0)));
    std::string msg;
    CHECK(outcome(zip(es), &msg) == "malformed");
    CHECK_MSG(msg.find("takes 5 inputs but the previous layer gives 6") != std::string::npos, msg);
  }
  EXPECT_OUTCOME(header("{\"size\": 8, \"type\": \"affine\"}, ", ""), "ok");  // unused members are ignored, as in Python
  EXPECT_OUTCOME(header("{\"mode\": \"mean\", \"type\": \"pool\"}, ", ""), "malformed");
  EXPECT_OUTCOME(header("\"type\": \"lstm\"", "\"type\": \"gru\""), "malformed");
  EXPECT_OUTCOME(header("\"a\", \"b\"", "\"a\", \"a\""), "malformed");                 // duplicate names
  EXPECT_OUTCOME(header("\"a\", \"b\"", "\"a\""), "malformed");                        // wrong count
  EXPECT_OUTCOME(header("\"a\", \"b\"", "\"\", \"b\""), "malformed");                  // empty name
  EXPECT_OUTCOME(header("\"a\", \"b\"", "\"" + std::string(257, 'n') + "\", \"b\""), "malformed");
  EXPECT_OUTCOME(header("\"output_names\": [\"y0\", \"y1\"]", "\"output_names\": null"), "malformed");
  EXPECT_OUTCOME(header("\"metadata\": {}", "\"metadata\": []"), "malformed");
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "[";
  for (int i = 0; i < 300; ++i) deep += "]";
  EXPECT_OUTCOME(header("\"metadata\": {}", "\"metadata\": {\"d\": " + deep + "}"), "malformed");
  // A 256-code-point name is allowed; multi-byte characters count once.
  std::string long_name;
  for (int i = 0; i < 256; ++i) long_name += "\xc3\xa9";
  EXPECT_OUTCOME(header("\"a\", \"b\"", "\"" + long_name + "\", \"b\""), "ok");
}

TEST_CASE(model_file, fixture_and_io_errors) {
  const Bytes fixture = read_file(std::string(ACTIF_TEST_DATA_DIR) + "/tiny_model.npz");
  CHECK_MSG(!fixture.empty(), "cannot read the committed fixture");
  const actif::ModelFile mf = actif::load_model_npz(fixture.data(), fixture.size());
  CHECK(mf.model.input_size == 6 && mf.model.lstm.size() == 2 && mf.model.output_size() == 2);
  CHECK(mf.feature_names[2] == "h\xc3\xa9" "ad_yaw");
  bool io = false;
  try {
    actif::load_model_file(std::string(ACTIF_TEST_DATA_DIR) + "/no-such-model.npz");
  } catch (const actif::ModelFileError& e) {
    io = e.kind() == FileErrorKind::Io;
  }
  CHECK(io);
}
