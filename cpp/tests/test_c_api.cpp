// The C API end to end: the committed model file written by Python
// (data/make_tiny_model.py) gives the predictions, statistics and scores the float64
// NumPy reference wrote beside it; streams, statistics (merge, bytes) and every error
// path behave as actif.h documents.
#include "actif/actif.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace actif_test;

namespace {

const std::string kDir = ACTIF_TEST_DATA_DIR;

// The sections of tiny_model_expected.txt.
std::map<std::string, std::vector<double>> expected() {
  std::ifstream in(kDir + "/tiny_model_expected.txt");
  return read_sections(in);
}

std::vector<float> floats(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// A request for n windows of t steps into y, nothing else asked for, one thread.
actif_window_request window_request(const float* x, int64_t n, int64_t t, float* y) {
  actif_window_request req;
  std::memset(&req, 0, sizeof req);
  req.x = x;
  req.n = n;
  req.t = t;
  req.y = y;
  req.num_threads = 1;
  return req;
}

struct Model {
  actif_model* m = nullptr;
  Model() { CHECK(actif_model_load_file((kDir + "/tiny_model.npz").c_str(), &m) == ACTIF_OK); }
  ~Model() { actif_model_free(m); }
};

std::vector<float> run_windows(actif_model* m, const std::vector<float>& x, int64_t n, int64_t t, actif_stats* stats,
                               int threads = 1) {
  std::vector<float> y(static_cast<size_t>(n * actif_model_output_size(m)));
  actif_window_request req = window_request(x.data(), n, t, y.data());
  req.trace = stats ? ACTIF_TRACE_WEIGHTED : ACTIF_TRACE_NONE;
  req.stats = stats;
  req.num_threads = threads;
  CHECK_MSG(actif_forward(m, &req) == ACTIF_OK, actif_last_error());
  return y;
}

}  // namespace

TEST_CASE(c_api, matches_python_reference) {
  const auto want = expected();
  CHECK(want.count("x") && want.count("y") && want.count("stream_y"));
  Model model;
  actif_model* m = model.m;
  if (m == nullptr) return;
  CHECK(actif_model_input_size(m) == 6 && actif_model_output_size(m) == 2 && actif_model_window(m) == 8);
  CHECK(actif_model_num_layers(m) == 2 && actif_model_hidden_size(m, 0) == 9 && actif_model_hidden_size(m, 1) == 5);
  CHECK(actif_model_hidden_size(m, 2) == -1 && actif_model_feature_name(m, 6) == nullptr);
  CHECK(std::string(actif_model_feature_name(m, 2)) == "h\xc3\xa9" "ad_yaw");
  CHECK(std::string(actif_model_output_name(m, 1)) == "y1");

  actif_stats* stats = nullptr;
  CHECK(actif_stats_create(6, 0.0, &stats) == ACTIF_OK);
  const std::vector<float> y = run_windows(m, floats(want.at("x")), 3, 8, stats);
  CHECK_CLOSE("windows y", y.data(), want.at("y").data(), 6, kPrediction);
  double mean[6], sd[6], scores[6];
  int64_t order[6];
  CHECK(actif_stats_count(stats) == 24);
  CHECK(actif_stats_mean(stats, mean, 6) == ACTIF_OK && actif_stats_std(stats, sd, 6) == ACTIF_OK);
  CHECK_CLOSE("trace mean", mean, want.at("trace_mean").data(), 6, kStats);
  CHECK_CLOSE("trace std", sd, want.at("trace_std").data(), 6, kStats);
  CHECK(actif_stats_scores(stats, ACTIF_SCORE_INVERSE, scores, 6) == ACTIF_OK);
  CHECK_CLOSE("inverse scores", scores, want.at("scores_inverse").data(), 6, kScores);
  CHECK(actif_stats_ranking(stats, ACTIF_SCORE_INVERSE, order, 6) == ACTIF_OK);
  for (int i = 0; i + 1 < 6; ++i) CHECK(scores[order[i]] >= scores[order[i + 1]]);
  actif_stats_free(stats);

  actif_stream* s = nullptr;
  CHECK(actif_stream_create(m, 1, &s) == ACTIF_OK);
  const std::vector<float> sx = floats(want.at("stream_x"));
  std::vector<float> sy(24);
  for (int64_t i = 0; i < 12; ++i)
    CHECK(actif_stream_step(s, sx.data() + 6 * i, sy.data() + 2 * i, ACTIF_TRACE_NONE, nullptr, nullptr) == ACTIF_OK);
  CHECK(actif_stream_steps(s) == 12);
  CHECK_CLOSE("stream y", sy.data(), want.at("stream_y").data(), 24, kPrediction);
  actif_stream_free(s);
}

TEST_CASE(c_api, memory_load_stream_and_hidden) {
  std::ifstream in(kDir + "/tiny_model.npz", std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  actif_model* m = nullptr;
  CHECK(actif_model_load_memory(bytes.data(), bytes.size(), &m) == ACTIF_OK);
  if (m == nullptr) return;
  Rng rng(3);
  const std::vector<float> x = rng.uniform_vec(8 * 6, -2.0f, 2.0f);
  // The window's layer-1 hidden state at its last step equals a stream's after 8 samples.
  std::vector<float> y(2), hidden(8 * 5), trace(8 * 6);
  actif_window_request req = window_request(x.data(), 1, 8, y.data());
  req.hidden = hidden.data();
  req.hidden_layer = 1;
  req.trace = ACTIF_TRACE_GATES;
  req.trace_out = trace.data();
  CHECK_MSG(actif_forward(m, &req) == ACTIF_OK, actif_last_error());
  actif_stream* s = nullptr;
  CHECK(actif_stream_create(m, 1, &s) == ACTIF_OK);
  actif_model_free(m);  // the stream keeps the model alive
  std::vector<float> sy(2), st(6), h(5);
  for (int i = 0; i < 8; ++i) CHECK(actif_stream_step(s, x.data() + 6 * i, sy.data(), ACTIF_TRACE_GATES, st.data(), nullptr) == ACTIF_OK);
  CHECK(actif_stream_hidden(s, 1, h.data(), 5) == ACTIF_OK);
  const std::vector<double> last_h(hidden.end() - 5, hidden.end()), last_tr(trace.end() - 6, trace.end());
  CHECK_CLOSE("stream h vs window h", h.data(), last_h.data(), 5, kHidden);
  CHECK_CLOSE("stream trace vs window trace", st.data(), last_tr.data(), 6, kTrace);
  // Mean pooling over a full ring of 8 equals the window's prediction.
  const std::vector<double> wy(y.begin(), y.end());
  CHECK_CLOSE("stream y vs window y", sy.data(), wy.data(), 2, kPrediction);
  actif_stream_reset(s);
  CHECK(actif_stream_steps(s) == 0);
  CHECK(actif_stream_hidden(s, 0, h.data(), 5) == ACTIF_E_INVALID_ARGUMENT);  // layer 0 has 9 units
  actif_stream_free(s);
}

TEST_CASE(c_api, stats_merge_and_bytes) {
  Rng rng(4);
  const std::vector<float> rows = rng.uniform_vec(20 * 6, 0.0f, 3.0f);
  actif_stats *all = nullptr, *a = nullptr, *b = nullptr, *back = nullptr;
  CHECK(actif_stats_create(6, 0.0, &all) == ACTIF_OK && actif_stats_create(6, 0.0, &a) == ACTIF_OK &&
        actif_stats_create(6, 0.0, &b) == ACTIF_OK);
  CHECK(actif_stats_update(all, rows.data(), 20) == ACTIF_OK);
  CHECK(actif_stats_update(a, rows.data(), 12) == ACTIF_OK);
  CHECK(actif_stats_update(b, rows.data() + 12 * 6, 8) == ACTIF_OK);
  CHECK(actif_stats_merge(a, b) == ACTIF_OK);
  double m1[6], m2[6];
  actif_stats_mean(all, m1, 6);
  actif_stats_mean(a, m2, 6);
  const Tolerance exact{"merge", 1e-12, 1e-12};
  CHECK_CLOSE("merged mean", m2, m1, 6, exact);
  CHECK(actif_stats_count(a) == 20 && actif_stats_weight(a) == 20.0);
  const size_t size = actif_stats_serialized_size(a);
  CHECK(size == 48 + 16 * 6 + 4);
  std::vector<uint8_t> blob(size), blob2(size);
  size_t written = 0;
  CHECK(actif_stats_serialize(a, blob.data(), size - 1, &written) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_stats_serialize(a, blob.data(), size, &written) == ACTIF_OK && written == size);
  CHECK(actif_stats_deserialize(blob.data(), size, &back) == ACTIF_OK);
  CHECK(actif_stats_serialize(back, blob2.data(), size, &written) == ACTIF_OK && blob == blob2);
  blob[60] ^= 1;
  actif_stats* bad = nullptr;
  CHECK(actif_stats_deserialize(blob.data(), size, &bad) == ACTIF_E_FORMAT && bad == nullptr);
  CHECK(std::string(actif_last_error()).find("checksum") != std::string::npos);
  actif_stats* other = nullptr;
  CHECK(actif_stats_create(5, 0.0, &other) == ACTIF_OK);
  CHECK(actif_stats_merge(a, other) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_stats_count(a) == 20);
  for (actif_stats* s : {all, a, b, back, other}) actif_stats_free(s);
}

TEST_CASE(c_api, errors_leave_state_unchanged) {
  actif_model* m = nullptr;
  CHECK(actif_model_load_file((kDir + "/no-such-model.npz").c_str(), &m) == ACTIF_E_IO && m == nullptr);
  CHECK(std::string(actif_last_error()).find("no-such-model") != std::string::npos);
  const char junk[] = "PK\x05\x06 not really a zip";
  CHECK(actif_model_load_memory(junk, sizeof junk, &m) == ACTIF_E_FORMAT);
  CHECK(actif_model_load_memory(nullptr, 0, &m) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_set_isa("no-such-isa") == ACTIF_E_INVALID_ARGUMENT);
  CHECK(std::string(actif_status_name(ACTIF_E_LIMIT)) == "ACTIF_E_LIMIT");

  Model model;
  if (model.m == nullptr) return;
  actif_stats* stats = nullptr;
  CHECK(actif_stats_create(6, 0.0, &stats) == ACTIF_OK);
  double scores[6];
  CHECK(actif_stats_scores(stats, ACTIF_SCORE_INVERSE, scores, 6) == ACTIF_E_STATE);
  actif_stream* s = nullptr;
  CHECK(actif_stream_create(model.m, 0, &s) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_stream_create(model.m, 2, &s) == ACTIF_OK);
  std::vector<float> x(12, 0.25f), y(4, -1.0f), h_before(18), h_after(18);
  CHECK(actif_stream_step(s, x.data(), y.data(), ACTIF_TRACE_WEIGHTED, nullptr, stats) == ACTIF_OK);
  CHECK(actif_stream_hidden(s, 0, h_before.data(), 18) == ACTIF_OK);
  x[7] = std::nanf("");
  CHECK(actif_stream_step(s, x.data(), y.data(), ACTIF_TRACE_WEIGHTED, nullptr, stats) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(std::string(actif_last_error()).find("row 1, feature 1") != std::string::npos);
  CHECK(actif_stream_hidden(s, 0, h_after.data(), 18) == ACTIF_OK && h_before == h_after);
  CHECK(actif_stream_steps(s) == 1 && actif_stats_count(stats) == 2);
  x[7] = 0.25f;
  CHECK(actif_stream_step(s, x.data(), y.data(), ACTIF_TRACE_NONE, nullptr, stats) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_stream_step(s, x.data(), y.data(), ACTIF_TRACE_NONE, y.data(), nullptr) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_stream_step(s, x.data(), y.data(), static_cast<actif_trace>(7), nullptr, nullptr) == ACTIF_E_INVALID_ARGUMENT);
  actif_stats* five = nullptr;  // one feature short of the model's six inputs
  CHECK(actif_stats_create(5, 0.0, &five) == ACTIF_OK);
  const std::vector<float> y_before = y;
  CHECK(actif_stream_step(s, x.data(), y.data(), ACTIF_TRACE_WEIGHTED, nullptr, five) == ACTIF_E_INVALID_ARGUMENT);
  CHECK_MSG(std::string(actif_last_error()).find("statistics have 5 features, the model has 6 inputs") !=
                std::string::npos,
            actif_last_error());
  CHECK(actif_stream_hidden(s, 0, h_after.data(), 18) == ACTIF_OK && h_before == h_after);
  CHECK(actif_stream_steps(s) == 1 && actif_stats_count(five) == 0 && y == y_before);
  actif_stream_free(s);

  std::vector<float> wx(2 * 8 * 6, 0.5f), wy(4, -3.0f), hidden(2 * 8 * 9);
  actif_window_request req = window_request(wx.data(), 2, 8, wy.data());
  req.hidden = hidden.data();
  req.hidden_layer = 2;
  CHECK(actif_forward(model.m, &req) == ACTIF_E_INVALID_ARGUMENT);
  req.hidden_layer = 0;
  req.stats = stats;  // without a trace
  CHECK(actif_forward(model.m, &req) == ACTIF_E_INVALID_ARGUMENT);
  req.trace = ACTIF_TRACE_WEIGHTED;
  req.stats = five;  // the wrong feature count, refused before any window runs, and for n == 0 too
  CHECK(actif_forward(model.m, &req) == ACTIF_E_INVALID_ARGUMENT);
  req.n = 0;
  CHECK(actif_forward(model.m, &req) == ACTIF_E_INVALID_ARGUMENT);
  req.n = 2;
  CHECK(actif_stats_count(five) == 0);
  req.trace = ACTIF_TRACE_NONE;
  req.trace_out = hidden.data();  // without a trace
  CHECK(actif_forward(model.m, &req) == ACTIF_E_INVALID_ARGUMENT);
  req.trace_out = nullptr;
  req.stats = nullptr;
  req.t = 0;
  CHECK(actif_forward(model.m, &req) == ACTIF_E_INVALID_ARGUMENT);
  req.t = 8;
  wx[50] = INFINITY;
  CHECK(actif_forward(model.m, &req) == ACTIF_E_INVALID_ARGUMENT);
  for (float v : wy) CHECK(v == -3.0f);
  CHECK(actif_forward(nullptr, &req) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_stats_count(stats) == 2);
  actif_stats_free(stats);
  actif_stats_free(five);
  actif_model_free(nullptr);
  actif_stream_free(nullptr);
  actif_stats_free(nullptr);
}

// The input rule: finite and |v| <= actif_model_input_limit(). A finite but huge sample
// (±3e38) used to return ACTIF_OK and poison statistics and stream state for good.
TEST_CASE(c_api, input_rule_rejects_huge_finite_values_and_changes_nothing) {
  Model model;
  if (model.m == nullptr) return;
  const int64_t n_in = actif_model_input_size(model.m), n_out = actif_model_output_size(model.m);
  CHECK(actif_model_input_limit(model.m) == 1e6);  // the default max_abs is below the overflow bound
  CHECK(actif_model_set_max_abs(model.m, 0.0) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_model_set_max_abs(model.m, NAN) == ACTIF_E_INVALID_ARGUMENT);
  actif_stream* stream = nullptr;
  actif_stats* stats = nullptr;
  CHECK(actif_stream_create(model.m, 1, &stream) == ACTIF_OK);
  CHECK(actif_stats_create(n_in, 0.0, &stats) == ACTIF_OK);
  Rng rng(9);
  std::vector<float> x = rng.uniform_vec(static_cast<size_t>(3 * n_in), -1.0f, 1.0f), y(static_cast<size_t>(3 * n_out));
  CHECK(actif_stream_step(stream, x.data(), y.data(), ACTIF_TRACE_WEIGHTED, nullptr, stats) == ACTIF_OK);
  const size_t size = actif_stats_serialized_size(stats);
  std::vector<unsigned char> before(size), after(size);
  CHECK(actif_stats_serialize(stats, before.data(), size, nullptr) == ACTIF_OK);
  std::vector<float> h_before(64), h_after(64);
  const int64_t hid = actif_model_hidden_size(model.m, 0);
  CHECK(actif_stream_hidden(stream, 0, h_before.data(), 64) == ACTIF_OK);
  for (float bad : {3e38f, -3e38f, 1.5e6f, NAN, INFINITY}) {
    x[static_cast<size_t>(2 * n_in + 1)] = bad;  // the last of three consecutive samples
    CHECK(actif_stream_run(stream, x.data(), 3, y.data(), ACTIF_TRACE_WEIGHTED, nullptr, stats) ==
          ACTIF_E_INVALID_ARGUMENT);
    CHECK(std::string(actif_last_error()).find("step 2, row 0, feature 1") != std::string::npos);
    actif_window_request req = window_request(x.data(), 1, 3, y.data());
    req.trace = ACTIF_TRACE_WEIGHTED;
    req.stats = stats;
    CHECK(actif_forward(model.m, &req) == ACTIF_E_INVALID_ARGUMENT);
    CHECK(std::string(actif_last_error()).find("window 0, step 2, feature 1") != std::string::npos);
    CHECK(actif_stream_steps(stream) == 1);
    CHECK(actif_stats_serialize(stats, after.data(), size, nullptr) == ACTIF_OK);
    CHECK(after == before);
    CHECK(actif_stream_hidden(stream, 0, h_after.data(), 64) == ACTIF_OK);
    CHECK(std::equal(h_before.begin(), h_before.begin() + hid, h_after.begin()));
  }
  // Without max_abs only the overflow bound applies: 1.5e6 passes, 3e38 still does not.
  CHECK(actif_model_set_max_abs(model.m, INFINITY) == ACTIF_OK);
  CHECK(actif_model_input_limit(model.m) > 1e6 && actif_model_input_limit(model.m) <= 1e36);
  x[static_cast<size_t>(2 * n_in + 1)] = 1.5e6f;
  CHECK(actif_stream_run(stream, x.data(), 3, y.data(), ACTIF_TRACE_WEIGHTED, nullptr, stats) == ACTIF_OK);
  CHECK(actif_stream_steps(stream) == 4);
  for (float v : y) CHECK(std::isfinite(v));
  x[static_cast<size_t>(2 * n_in + 1)] = 3e38f;
  CHECK(actif_stream_run(stream, x.data(), 3, y.data(), ACTIF_TRACE_WEIGHTED, nullptr, stats) ==
        ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_stream_run(stream, x.data(), 0, y.data(), ACTIF_TRACE_NONE, nullptr, nullptr) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_stats_serialize(stats, after.data(), size, nullptr) == ACTIF_OK);  // still a valid blob
  actif_stats* back = nullptr;
  CHECK(actif_stats_deserialize(after.data(), size, &back) == ACTIF_OK);
  actif_stats_free(back);
  actif_stats_free(stats);
  actif_stream_free(stream);
}

// M consecutive samples in one call equal M single steps, statistics byte for byte.
TEST_CASE(c_api, stream_run_equals_single_steps) {
  Model model;
  if (model.m == nullptr) return;
  const int64_t n_in = actif_model_input_size(model.m), n_out = actif_model_output_size(model.m);
  actif_stream *a = nullptr, *b = nullptr;
  actif_stats *sa = nullptr, *sb = nullptr;
  CHECK(actif_stream_create(model.m, 2, &a) == ACTIF_OK && actif_stream_create(model.m, 2, &b) == ACTIF_OK);
  CHECK(actif_stats_create(n_in, 0.0, &sa) == ACTIF_OK && actif_stats_create(n_in, 0.0, &sb) == ACTIF_OK);
  Rng rng(10);
  const int64_t m = 5;
  const std::vector<float> x = rng.uniform_vec(static_cast<size_t>(m * 2 * n_in), -2.0f, 2.0f);
  std::vector<float> ya(static_cast<size_t>(m * 2 * n_out)), yb(ya.size());
  CHECK(actif_stream_run(a, x.data(), m, ya.data(), ACTIF_TRACE_GATES, nullptr, sa) == ACTIF_OK);
  for (int64_t s = 0; s < m; ++s)
    CHECK(actif_stream_step(b, x.data() + s * 2 * n_in, yb.data() + s * 2 * n_out, ACTIF_TRACE_GATES, nullptr, sb) ==
          ACTIF_OK);
  CHECK(ya == yb);
  CHECK(actif_stream_steps(a) == m && actif_stream_steps(b) == m);
  const size_t size = actif_stats_serialized_size(sa);
  std::vector<unsigned char> ba(size), bb(size);
  CHECK(actif_stats_serialize(sa, ba.data(), size, nullptr) == ACTIF_OK);
  CHECK(actif_stats_serialize(sb, bb.data(), size, nullptr) == ACTIF_OK);
  CHECK(ba == bb);
  actif_stats_free(sa);
  actif_stats_free(sb);
  actif_stream_free(a);
  actif_stream_free(b);
}

TEST_CASE(c_api, threads_share_a_model) {
  Model model;
  if (model.m == nullptr) return;
  Rng rng(6);
  const std::vector<float> x = rng.uniform_vec(16 * 8 * 6, -2.0f, 2.0f);
  const std::vector<float> want = run_windows(model.m, x, 16, 8, nullptr);
  std::vector<float> got[2];
  std::string err[2];
  std::vector<std::thread> pool;
  for (int i = 0; i < 2; ++i)
    pool.emplace_back([&, i] {
      for (int rep = 0; rep < 5; ++rep) got[i] = run_windows(model.m, x, 16, 8, nullptr);
      if (i == 1) actif_set_isa("bogus");  // an error on this thread only
      err[i] = actif_last_error();
    });
  for (auto& t : pool) t.join();
  CHECK(got[0] == want && got[1] == want);
  CHECK(err[0].empty() && err[1].find("bogus") != std::string::npos);
}

// ------------------------------------------------------------------------ attribution

namespace {

std::map<std::string, std::vector<double>> expected_attribution() {
  std::ifstream in(kDir + "/tiny_model_attribution.txt");
  return read_sections(in);
}

// max |got - want| <= rtol * max |want| + atol (the attributions' error measure).
bool attribution_close(const float* got, const std::vector<double>& want, double rtol, double atol = 1e-7) {
  double worst = 0.0, scale = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return worst <= rtol * scale + atol;
}

actif_attribution_request attribution_request(const float* x, int64_t n, int64_t t, actif_attribution_method method,
                                              float* y, float* values) {
  actif_attribution_request req;
  std::memset(&req, 0, sizeof req);
  req.x = x;
  req.n = n;
  req.t = t;
  req.options.method = method;
  req.options.target = 1;
  req.options.n_steps = 16;
  req.options.num_threads = 1;
  req.y = y;
  req.values = values;
  return req;
}

std::vector<uint8_t> bytes_of(const actif_stats* s) {
  std::vector<uint8_t> out(actif_stats_serialized_size(s));
  size_t written = 0;
  CHECK(actif_stats_serialize(s, out.data(), out.size(), &written) == ACTIF_OK && written == out.size());
  return out;
}

}  // namespace

TEST_CASE(c_api, attributions_match_python_reference) {
  const auto base = expected();
  const auto want = expected_attribution();
  Model model;
  if (model.m == nullptr) return;
  const std::vector<float> x = floats(base.at("x"));
  const struct {
    actif_attribution_method method;
    const char* name;
  } cases[] = {{ACTIF_ATTRIBUTION_GRADIENT, "attr_gradient"},
               {ACTIF_ATTRIBUTION_INTEGRATED, "attr_integrated"},
               {ACTIF_ATTRIBUTION_OCCLUSION, "attr_occlusion"},
               {ACTIF_ATTRIBUTION_DEEPLIFT, "attr_deeplift"},
               {ACTIF_ATTRIBUTION_LRP, "attr_lrp"}};
  for (const auto& c : cases) {
    std::vector<float> y(6), values(3 * 8 * 6), delta(3, -7.0f);
    actif_stats *abs_stats = nullptr, *signed_stats = nullptr;
    CHECK(actif_stats_create(6, 0.0, &abs_stats) == ACTIF_OK && actif_stats_create(6, 0.0, &signed_stats) == ACTIF_OK);
    actif_attribution_request req = attribution_request(x.data(), 3, 8, c.method, y.data(), values.data());
    req.abs_stats = abs_stats;
    req.signed_stats = signed_stats;
    if (c.method == ACTIF_ATTRIBUTION_INTEGRATED) req.delta = delta.data();
    CHECK_MSG(actif_attribute_windows(model.m, &req) == ACTIF_OK, actif_last_error());
    CHECK_CLOSE(std::string(c.name) + " y", y.data(), base.at("y").data(), 6, kPrediction);
    // Occlusion subtracts two predictions: their float32 rounding bounds its error.
    CHECK_MSG(attribution_close(values.data(), want.at(c.name), 1e-4, c.method == ACTIF_ATTRIBUTION_OCCLUSION ? 1e-6 : 1e-7),
              c.name);
    if (c.method == ACTIF_ATTRIBUTION_INTEGRATED)
      CHECK_MSG(attribution_close(delta.data(), want.at("attr_delta"), 0.0, 1e-6), "delta");
    else
      CHECK(delta[0] == -7.0f);
    // The statistics hold exactly the rows the values give: same bytes as feeding them.
    actif_stats *want_abs = nullptr, *want_signed = nullptr;
    CHECK(actif_stats_create(6, 0.0, &want_abs) == ACTIF_OK && actif_stats_create(6, 0.0, &want_signed) == ACTIF_OK);
    std::vector<float> magnitudes(values.size());
    for (size_t i = 0; i < values.size(); ++i) magnitudes[i] = std::fabs(values[i]);
    CHECK(actif_stats_update(want_abs, magnitudes.data(), 24) == ACTIF_OK);
    CHECK(actif_stats_update(want_signed, values.data(), 24) == ACTIF_OK);
    CHECK_MSG(bytes_of(abs_stats) == bytes_of(want_abs), std::string(c.name) + ": |A| statistics bytes");
    CHECK_MSG(bytes_of(signed_stats) == bytes_of(want_signed), std::string(c.name) + ": signed statistics bytes");
    // Without a values buffer the statistics are the same.
    actif_stats* again = nullptr;
    CHECK(actif_stats_create(6, 0.0, &again) == ACTIF_OK);
    req.values = nullptr;
    req.abs_stats = again;
    req.signed_stats = nullptr;
    CHECK(actif_attribute_windows(model.m, &req) == ACTIF_OK);
    CHECK(bytes_of(again) == bytes_of(want_abs));
    for (actif_stats* s : {abs_stats, signed_stats, want_abs, want_signed, again}) actif_stats_free(s);
  }
}

TEST_CASE(c_api, stream_attribution_covers_the_last_window) {
  const auto base = expected();
  const auto want = expected_attribution();
  Model model;
  if (model.m == nullptr) return;
  const std::vector<float> sx = floats(base.at("stream_x"));
  actif_stream *s = nullptr, *plain = nullptr;
  CHECK(actif_stream_create(model.m, 1, &s) == ACTIF_OK && actif_stream_create(model.m, 1, &plain) == ACTIF_OK);
  if (s == nullptr || plain == nullptr) return;
  actif_stream_attribution req;
  std::memset(&req, 0, sizeof req);
  std::vector<float> y(2), values(8 * 6, -5.0f), y_step(2), y_plain(2);
  req.options.target = 1;
  req.y = y.data();
  req.values = values.data();
  CHECK(actif_stream_attribution_steps(s) == 0);
  CHECK(actif_stream_attribute(s, &req) == ACTIF_E_STATE);
  for (int64_t i = 0; i < 12; ++i) {
    CHECK(actif_stream_step(s, sx.data() + i * 6, y_step.data(), ACTIF_TRACE_NONE, nullptr, nullptr) == ACTIF_OK);
    CHECK(actif_stream_step(plain, sx.data() + i * 6, y_plain.data(), ACTIF_TRACE_NONE, nullptr, nullptr) == ACTIF_OK);
    CHECK(actif_stream_attribution_steps(s) == std::min<int64_t>(i + 1, 8));
    // Attributing reads the stream only: the next steps equal a stream never attributed.
    CHECK_MSG(actif_stream_attribute(s, &req) == ACTIF_OK, actif_last_error());
    CHECK(y_step == y_plain);
    std::vector<double> step_y(y_step.begin(), y_step.end());
    CHECK_CLOSE("stream attribution y = step y", y.data(), step_y.data(), 2, kPrediction);
  }
  CHECK_CLOSE("stream attribution y", y.data(), want.at("stream_attr_y").data(), 2, kPrediction);
  CHECK_MSG(attribution_close(values.data(), want.at("stream_attr_gradient"), 1e-4), "stream gradient x input");
  // A rejected request changes nothing.
  req.options.target = 2;
  std::vector<float> before = values;
  CHECK(actif_stream_attribute(s, &req) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(values == before);
  actif_stream_reset(s);
  CHECK(actif_stream_attribution_steps(s) == 0 && actif_stream_attribute(s, &req) == ACTIF_E_STATE);
  actif_stream_free(s);
  actif_stream_free(plain);
}

TEST_CASE(c_api, attribution_rejects_bad_requests) {
  Model model;
  if (model.m == nullptr) return;
  std::vector<float> x(2 * 8 * 6, 0.25f), y(4, -3.0f), values(2 * 8 * 6, -3.0f), delta(2, -3.0f);
  actif_stats* stats = nullptr;
  CHECK(actif_stats_create(6, 0.0, &stats) == ACTIF_OK);
  auto refused = [&](const char* what, auto&& edit) {
    actif_attribution_request req =
        attribution_request(x.data(), 2, 8, ACTIF_ATTRIBUTION_INTEGRATED, y.data(), values.data());
    req.delta = delta.data();
    req.abs_stats = stats;
    edit(req);
    const int status = actif_attribute_windows(model.m, &req);
    CHECK_MSG(status == ACTIF_E_INVALID_ARGUMENT, std::string(what) + ": status " + actif_status_name(status));
    CHECK_MSG(std::string(actif_last_error()).find("actif_attribute_windows") == 0, what);
    bool untouched = actif_stats_count(stats) == 0;
    for (float v : y) untouched = untouched && v == -3.0f;
    for (float v : values) untouched = untouched && v == -3.0f;
    for (float v : delta) untouched = untouched && v == -3.0f;
    CHECK_MSG(untouched, std::string(what) + ": something changed");
  };
  const float nan_base[6] = {0, 0, NAN, 0, 0, 0};
  refused("target out of range", [](actif_attribution_request& r) { r.options.target = 2; });
  refused("negative target", [](actif_attribution_request& r) { r.options.target = -1; });
  refused("unknown method", [](actif_attribution_request& r) {
    // One past ACTIF_ATTRIBUTION_LRP, as a C caller could store it: written as bytes,
    // since C++ cannot hold an enum value outside the enumeration's range.
    const int unknown = 5;
    static_assert(sizeof r.options.method == sizeof unknown, "a C enum is an int here");
    std::memcpy(&r.options.method, &unknown, sizeof unknown);
    r.delta = nullptr;  // so that nothing but the method can be refused
  });
  refused("unknown integral", [](actif_attribution_request& r) { r.options.integral = static_cast<actif_integral>(7); });
  refused("negative n_steps", [](actif_attribution_request& r) { r.options.n_steps = -1; });
  refused("one Riemann step", [](actif_attribution_request& r) {
    r.options.n_steps = 1;
    r.options.integral = ACTIF_INTEGRAL_RIEMANN_LEFT;
  });
  refused("NaN baseline", [&](actif_attribution_request& r) { r.options.baseline = nan_base; });
  refused("delta for gradient", [](actif_attribution_request& r) { r.options.method = ACTIF_ATTRIBUTION_GRADIENT; });
  refused("no y", [](actif_attribution_request& r) { r.y = nullptr; });
  refused("t = 0", [](actif_attribution_request& r) { r.t = 0; });
  x[17] = INFINITY;
  refused("Inf input", [](actif_attribution_request&) {});
  x[17] = 0.25f;
  actif_stats* five = nullptr;
  CHECK(actif_stats_create(5, 0.0, &five) == ACTIF_OK);
  refused("statistics of another size", [&](actif_attribution_request& r) { r.signed_stats = five; });
  CHECK(actif_stats_count(five) == 0);
  CHECK(actif_attribute_windows(nullptr, nullptr) == ACTIF_E_INVALID_ARGUMENT);
  actif_stats_free(stats);
  actif_stats_free(five);
}

// The statistics byte format (python/actif/stats.py) of one feature: `count` samples
// of weight 1 at `mean`, M2 0, with its CRC-32.
static std::vector<uint8_t> stats_blob(uint64_t count, double mean) {
  std::vector<uint8_t> b(48 + 16 + 4, 0);
  std::memcpy(b.data(), "ACTIFRS", 8);
  const uint32_t version = 1;
  const uint64_t n = 1;
  const double weight = static_cast<double>(count);
  std::memcpy(b.data() + 8, &version, 4);
  std::memcpy(b.data() + 16, &n, 8);
  std::memcpy(b.data() + 24, &count, 8);
  std::memcpy(b.data() + 32, &weight, 8);
  std::memcpy(b.data() + 48, &mean, 8);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < 64; ++i) {
    crc ^= b[i];
    for (int k = 0; k < 8; ++k) crc = (crc & 1u) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
  }
  crc = ~crc;
  std::memcpy(b.data() + 64, &crc, 4);
  return b;
}

// Arguments the C API must refuse (numbers out of range, short buffers), and the statistics
// rule through the C API: a merge whose moments would overflow float64 is refused with
// both statistics unchanged, so the blob still deserialises.
TEST_CASE(c_api, out_of_range_arguments_and_overflowing_merges) {
  actif_stats* s = nullptr;
  CHECK(actif_stats_create(0, 0.0, &s) == ACTIF_E_INVALID_ARGUMENT && s == nullptr);
  CHECK(actif_stats_create(2, -1.0, &s) == ACTIF_E_INVALID_ARGUMENT && s == nullptr);
  CHECK(actif_stats_create(2, std::nan(""), &s) == ACTIF_E_INVALID_ARGUMENT && s == nullptr);
  CHECK(actif_stats_create(2, INFINITY, &s) == ACTIF_E_INVALID_ARGUMENT && s == nullptr);
  CHECK(actif_stats_create(2, 0.0, &s) == ACTIF_OK);
  const float rows[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  CHECK(actif_stats_update(s, rows, -1) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(actif_stats_update(s, rows, 2) == ACTIF_OK);
  double out[2];
  CHECK(actif_stats_scores(s, ACTIF_SCORE_PEN, out, 1) == ACTIF_E_INVALID_ARGUMENT);  // buffer too short
  CHECK(actif_set_isa("") == ACTIF_OK);  // "" and "auto" pick the best kernels
  CHECK(actif_set_isa(nullptr) == ACTIF_E_INVALID_ARGUMENT);

  // Two valid one-feature states (3 samples each) whose means are +-1e154: merging them
  // would overflow M2. Built as blobs: a float32 row cannot hold 1e154.
  const std::vector<uint8_t> pb = stats_blob(3, 1e154), mb = stats_blob(3, -1e154);
  actif_stats *a = nullptr, *b = nullptr;
  CHECK(actif_stats_deserialize(pb.data(), pb.size(), &a) == ACTIF_OK);
  CHECK(actif_stats_deserialize(mb.data(), mb.size(), &b) == ACTIF_OK);
  CHECK(actif_stats_merge(a, b) == ACTIF_E_INVALID_ARGUMENT);
  CHECK(std::string(actif_last_error()).find("overflow") != std::string::npos);
  std::vector<uint8_t> again(actif_stats_serialized_size(a));
  size_t written = 0;
  CHECK(actif_stats_serialize(a, again.data(), again.size(), &written) == ACTIF_OK && again == pb);
  actif_stats* back = nullptr;
  CHECK(actif_stats_deserialize(again.data(), written, &back) == ACTIF_OK);
  actif_stats_free(back);
  actif_stats_free(a);
  actif_stats_free(b);
  actif_stats_free(s);
}
