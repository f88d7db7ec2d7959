// The full forward pass (window and stateful step), its traces, the running statistics
// and the scores, for every ISA this CPU runs, against the double-precision reference,
// at hidden sizes straddling the vector widths. Outputs live in guarded buffers.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "actif/forward.hpp"
#include "actif/kernels.hpp"
#include "actif/model.hpp"
#include "actif/running_stats.hpp"
#include "harness.hpp"
#include "isa_loop.hpp"
#include "reference.hpp"

using namespace actif_test;

namespace {

const actif::Pooling kPoolings[] = {actif::Pooling::Last, actif::Pooling::Mean, actif::Pooling::Max};
const actif::Activation kActs[] = {actif::Activation::Relu, actif::Activation::Elu, actif::Activation::Tanh,
                                   actif::Activation::Sigmoid, actif::Activation::Identity};
const actif::TraceKind kTraces[] = {actif::TraceKind::Input, actif::TraceKind::Weighted, actif::TraceKind::Gates,
                                    actif::TraceKind::Paper};
const char* kScoreNames[] = {"inverse", "mean", "meanstd", "pen"};

// Model k of a sweep: pooling, activations, depth and affines vary with k (as tests/test_parity.py).
ModelShape sweep_shape(int64_t hidden, int k) {
  ModelShape s;
  s.input_size = hidden >= 38 ? 38 : 5;
  s.hidden = k % 2 ? std::vector<int64_t>{hidden, hidden > 9 ? 9 : hidden} : std::vector<int64_t>{hidden};
  s.pooling = kPoolings[k % 3];
  s.window = 4;
  s.input_affine = k % 2 == 0;
  s.post_affine = k % 3 != 1;
  s.dense = k % 4 ? std::vector<int64_t>{16, k % 2 ? 3 : 1} : std::vector<int64_t>{};
  s.act = kActs[k % 5];
  s.out_act = kActs[(k + 2) % 5];
  return s;
}


void check_scores(const std::string& where, const actif::RunningStats& rs, const std::vector<double>& mean,
                  const std::vector<double>& sd) {
  const int64_t n = rs.n_features();
  CHECK_CLOSE(where + " stats mean", rs.mean().data(), mean.data(), n, kStats);
  const std::vector<double> got_sd = rs.stddev();
  CHECK_CLOSE(where + " stats std", got_sd.data(), sd.data(), n, kStats);
  for (int m = 0; m < 4; ++m) {
    std::vector<double> got(static_cast<size_t>(n));
    actif::compute_scores(actif::parse_score_method(kScoreNames[m]), rs.mean().data(), got_sd.data(), n, got.data());
    const std::vector<double> want = ref_scores(kScoreNames[m], mean, sd);
    CHECK_CLOSE(where + " scores " + kScoreNames[m], got.data(), want.data(), n, kScores);
  }
}

}  // namespace

TEST_CASE(forward, windows) {
  int k = 0;
  for (const int64_t hidden : kSizesAroundVectorWidths) {
    ++k;
    const RefModel ref = random_ref_model(sweep_shape(hidden, k), 100 + static_cast<uint64_t>(hidden));
    const actif::Model model = build_model(ref);
    const int64_t I = ref.input_size, O = ref.output_size(), L = static_cast<int64_t>(ref.lstm.size());
    // 3 windows take the all-steps-at-once input GEMM, 7 the per-step one (forward.cpp).
    for (const int64_t n : {3, 7}) {
      const int64_t t = 5;
      Rng rng(200 + static_cast<uint64_t>(hidden * 10 + n));
      const std::vector<float> x = rng.uniform_vec(static_cast<size_t>(n * t * I), -2.0f, 2.0f);
      for (const actif::TraceKind trace : kTraces) {
        if (trace == actif::TraceKind::Paper && hidden < I) continue;
        const RefWindows want = ref_windows(ref, x, n, t, trace);
        std::vector<double> mean, sd;
        ref_moments(want.trace, I, mean, sd);
        for_each_isa([&](const std::string& isa) {
          const std::string where = isa + " H=" + std::to_string(hidden) + " n=" + std::to_string(n) + " trace=" +
                                    actif::to_string(trace);
          Guarded y(n * O), tr(n * t * I);
          std::vector<Guarded> h, c, g;
          actif::WindowRequest req = window_request(x.data(), n, t, y.data());
          for (int64_t l = 0; l < L; ++l) {
            const int64_t H = ref.lstm[static_cast<size_t>(l)].hidden;
            h.emplace_back(n * t * H);
            c.emplace_back(n * t * H);
            g.emplace_back(n * t * 4 * H);
          }
          for (int64_t l = 0; l < L; ++l) req.layers.push_back({h[l].data(), c[l].data(), g[l].data()});
          actif::RunningStats stats(I);
          req.trace = trace;
          req.trace_out = tr.data();
          req.stats = &stats;
          actif::window_forward(model, req);
          CHECK_CLOSE(where + " y", y.data(), want.y.data(), n * O, kPrediction);
          CHECK_CLOSE(where + " trace", tr.data(), want.trace.data(), n * t * I, kTrace);
          for (int64_t l = 0; l < L; ++l) {
            const std::string lw = where + " layer " + std::to_string(l);
            CHECK_CLOSE(lw + " h", h[l].data(), want.h[l].data(), h[l].n, kHidden);
            CHECK_CLOSE(lw + " c", c[l].data(), want.c[l].data(), c[l].n, kCell);
            CHECK_CLOSE(lw + " gates", g[l].data(), want.gates[l].data(), g[l].n, kGates);
            CHECK_MSG(h[l].guards_intact() && c[l].guards_intact() && g[l].guards_intact(), lw + ": wrote outside");
          }
          CHECK_MSG(y.guards_intact() && tr.guards_intact(), where + ": wrote outside y or trace");
          CHECK(stats.count() == static_cast<uint64_t>(n * t));
          check_scores(where, stats, mean, sd);

          // Without activation buffers the pass takes its scratch paths: same results.
          Guarded y2(n * O);
          actif::window_forward(model, window_request(x.data(), n, t, y2.data()));
          CHECK_CLOSE(where + " y (no activations)", y2.data(), want.y.data(), n * O, kPrediction);
          CHECK_MSG(y2.guards_intact(), where + ": wrote outside y (no activations)");
        });
      }
    }
  }
}

TEST_CASE(forward, threads_split_windows) {
  // Enough work that window_forward splits the windows over two threads.
  ModelShape s;
  s.input_size = 38;
  s.hidden = {128};
  s.pooling = actif::Pooling::Max;
  const RefModel ref = random_ref_model(s, 7);
  const actif::Model model = build_model(ref);
  const int64_t n = 40, t = 10, O = ref.output_size();
  Rng rng(8);
  const std::vector<float> x = rng.uniform_vec(static_cast<size_t>(n * t * 38), -2.0f, 2.0f);
  const RefWindows want = ref_windows(ref, x, n, t, actif::TraceKind::Weighted);
  for_each_isa([&](const std::string& isa) {
    std::vector<float> y1(static_cast<size_t>(n * O)), y2(y1.size());
    actif::RunningStats s1(38), s2(38);
    for (int threads : {1, 2}) {
      actif::WindowRequest req = window_request(x.data(), n, t, threads == 1 ? y1.data() : y2.data());
      req.trace = actif::TraceKind::Weighted;
      req.stats = threads == 1 ? &s1 : &s2;
      req.num_threads = threads;
      actif::window_forward(model, req);
    }
    CHECK_MSG(y1 == y2, isa + ": threaded windows differ from single-threaded");
    CHECK_MSG(s1.to_bytes() == s2.to_bytes(), isa + ": threaded statistics differ");
    CHECK_CLOSE(isa + " y", y2.data(), want.y.data(), n * O, kPrediction);
  });
}

TEST_CASE(forward, step_streams) {
  int k = 0;
  for (const int64_t hidden : kSizesAroundVectorWidths) {
    ++k;
    const RefModel ref = random_ref_model(sweep_shape(hidden, k + 1), 300 + static_cast<uint64_t>(hidden));
    const actif::Model model = build_model(ref);
    const int64_t I = ref.input_size, O = ref.output_size(), B = 2, steps = ref.window + 3;
    const actif::TraceKind trace = kTraces[k % 3];  // input, weighted, gates in turn
    Rng rng(400 + static_cast<uint64_t>(hidden));
    const std::vector<float> x = rng.uniform_vec(static_cast<size_t>(steps * B * I), -2.0f, 2.0f);
    // The reference runs each stream alone: (steps, I) slices of (steps, B, I).
    std::vector<std::vector<double>> want_y(B), want_tr(B);
    std::vector<double> all_tr;
    for (int64_t b = 0; b < B; ++b) {
      std::vector<float> xb;
      for (int64_t s = 0; s < steps; ++s) xb.insert(xb.end(), x.begin() + (s * B + b) * I, x.begin() + (s * B + b + 1) * I);
      ref_stream(ref, xb, steps, trace, want_y[b], want_tr[b]);
    }
    for (int64_t s = 0; s < steps; ++s)
      for (int64_t b = 0; b < B; ++b) all_tr.insert(all_tr.end(), want_tr[b].begin() + s * I, want_tr[b].begin() + (s + 1) * I);
    std::vector<double> mean, sd;
    ref_moments(all_tr, I, mean, sd);

    for_each_isa([&](const std::string& isa) {
      const std::string where = isa + " H=" + std::to_string(hidden) + " pooling=" + actif::to_string(ref.pooling);
      std::vector<Guarded> h, c;
      actif::StepState st;
      st.batch = B;
      for (const RefLstm& l : ref.lstm) {
        h.emplace_back(B * l.hidden);
        c.emplace_back(B * l.hidden);
      }
      for (size_t l = 0; l < ref.lstm.size(); ++l) {
        std::fill(h[l].data(), h[l].data() + h[l].n, 0.0f);
        std::fill(c[l].data(), c[l].data() + c[l].n, 0.0f);
        st.h.push_back(h[l].data());
        st.c.push_back(c[l].data());
      }
      Guarded ring(B * ref.window * ref.lstm.back().hidden);
      std::fill(ring.data(), ring.data() + ring.n, 0.0f);
      st.ring = ring.data();
      st.ring_len = ref.window;
      actif::RunningStats stats(I);
      for (int64_t s = 0; s < steps; ++s) {
        Guarded y(B * O), tr(B * I);
        actif::StepRequest req;
        req.x = x.data() + s * B * I;
        req.y = y.data();
        req.trace = trace;
        req.trace_out = tr.data();
        req.stats = &stats;
        actif::step_forward(model, st, req);
        ++st.steps;
        for (int64_t b = 0; b < B; ++b) {
          const std::string sw = where + " step " + std::to_string(s) + " stream " + std::to_string(b);
          CHECK_CLOSE(sw + " y", y.data() + b * O, want_y[b].data() + s * O, O, kPrediction);
          CHECK_CLOSE(sw + " trace", tr.data() + b * I, want_tr[b].data() + s * I, I, kTrace);
        }
        CHECK_MSG(y.guards_intact() && tr.guards_intact(), where + ": wrote outside y or trace");
      }
      for (size_t l = 0; l < ref.lstm.size(); ++l)
        CHECK_MSG(h[l].guards_intact() && c[l].guards_intact(), where + ": wrote outside the state");
      CHECK_MSG(ring.guards_intact(), where + ": wrote outside the ring");
      check_scores(where, stats, mean, sd);
    });
  }
}

// A trace that nobody reads (no trace_out, no statistics) is skipped: asking for one
// still changes no output.
TEST_CASE(forward, unread_trace_changes_nothing) {
  ModelShape s;
  s.input_size = 6;
  s.hidden = {8};
  s.pooling = actif::Pooling::Mean;
  const RefModel ref = random_ref_model(s, 12);
  const actif::Model model = build_model(ref);
  Rng rng(13);
  const std::vector<float> x = rng.uniform_vec(3 * 5 * 6, -2.0f, 2.0f);
  std::vector<float> want(3 * 2), got(3 * 2), h(8, 0.0f), c(8, 0.0f), ring(8 * ref.window, 0.0f);
  actif::window_forward(model, window_request(x.data(), 3, 5, want.data()));
  actif::StepState st;
  st.batch = 1;
  st.h = {h.data()};
  st.c = {c.data()};
  st.ring = ring.data();
  st.ring_len = ref.window;
  actif::StepRequest step;
  step.x = x.data();
  std::vector<float> want_step(2), got_step(2);
  step.y = want_step.data();
  actif::step_forward(model, st, step);
  for (const actif::TraceKind trace : kTraces) {
    actif::WindowRequest req = window_request(x.data(), 3, 5, got.data());
    req.trace = trace;
    actif::window_forward(model, req);
    CHECK_MSG(got == want, std::string("window y with an unread trace ") + actif::to_string(trace));
    std::fill(h.begin(), h.end(), 0.0f);
    std::fill(c.begin(), c.end(), 0.0f);
    std::fill(ring.begin(), ring.end(), 0.0f);
    step.y = got_step.data();
    step.trace = trace;
    actif::step_forward(model, st, step);
    CHECK_MSG(got_step == want_step, std::string("step y with an unread trace ") + actif::to_string(trace));
  }
}

TEST_CASE(forward, rejects_bad_requests_before_writing) {
  ModelShape s;
  s.input_size = 6;
  s.hidden = {4};  // H < I: the paper trace is undefined
  const RefModel ref = random_ref_model(s, 9);
  const actif::Model model = build_model(ref);
  std::vector<float> x(2 * 3 * 6, 0.5f), y(2 * 2, -7.0f);
  actif::WindowRequest req = window_request(x.data(), 2, 3, y.data());
  req.trace = actif::TraceKind::Paper;
  bool threw = false;
  try {
    actif::window_forward(model, req);
  } catch (const actif::Error&) {
    threw = true;
  }
  CHECK(threw);
  actif::RunningStats wrong(5);
  req.trace = actif::TraceKind::Weighted;
  req.stats = &wrong;
  threw = false;
  try {
    actif::window_forward(model, req);
  } catch (const actif::Error&) {
    threw = true;
  }
  CHECK(threw);
  CHECK(wrong.count() == 0);
  for (float v : y) CHECK(v == -7.0f);

  // Step mode makes the same checks, with the same messages, before touching the state.
  std::vector<float> h(2 * 4, 0.25f), c(2 * 4, 0.5f);
  actif::StepState st;
  st.batch = 2;
  st.h = {h.data()};
  st.c = {c.data()};
  actif::StepRequest step;
  step.x = x.data();
  step.y = y.data();
  auto step_error = [&]() -> std::string {
    try {
      actif::step_forward(model, st, step);
    } catch (const actif::Error& e) {
      return e.what();
    }
    return "";
  };
  step.trace = actif::TraceKind::Paper;  // no trace_out, no statistics: still checked
  CHECK_MSG(step_error().find("hidden_size >= input_size (the first LSTM layer has 4 units, the model 6 inputs)") !=
                std::string::npos,
            step_error());
  step.trace = actif::TraceKind::Weighted;
  step.stats = &wrong;
  CHECK_MSG(step_error() == "statistics have 5 features, the model has 6 inputs", step_error());
  actif::RunningStats right(6);
  step.trace = actif::TraceKind::None;
  step.stats = &right;
  CHECK_MSG(step_error() == "statistics need a trace", step_error());
  CHECK(wrong.count() == 0 && right.count() == 0);
  for (float v : y) CHECK(v == -7.0f);
  for (float v : h) CHECK(v == 0.25f);
  for (float v : c) CHECK(v == 0.5f);
}

// The input rule's scan (blocks checked without an early exit, then re-scanned): the
// first bad value is found wherever it lies, before, on and after block edges, and a
// later bad value never hides an earlier one.
TEST_CASE(forward, input_rule_finds_the_first_bad_value) {
  const float limit = 10.0f;
  const float bads[] = {std::nanf(""), INFINITY, -INFINITY, 10.5f, -1e30f};
  for (int64_t n : {int64_t{1}, int64_t{255}, int64_t{256}, int64_t{257}, int64_t{700}}) {
    std::vector<float> x(static_cast<size_t>(n), -10.0f);  // exactly at the limit: accepted
    CHECK(actif::first_invalid_input(x.data(), n, limit) == -1);
    for (int64_t at = 0; at < n; at += (n > 300 ? 37 : 1)) {
      for (float bad : bads) {
        x[static_cast<size_t>(at)] = bad;
        x[static_cast<size_t>(n - 1)] = n - 1 > at ? INFINITY : x[static_cast<size_t>(n - 1)];
        CHECK_MSG(actif::first_invalid_input(x.data(), n, limit) == at, "n " + std::to_string(n) + " at " + std::to_string(at));
        std::fill(x.begin(), x.end(), -10.0f);
      }
    }
  }
}
