// The native attributions (attribution.hpp) for every ISA this CPU runs, at hidden
// sizes straddling the vector widths, against double-precision references built from
// the reference forward (reference.hpp) alone: central finite differences for the
// gradient, the same quadrature over finite-difference gradients for integrated
// gradients, and ablated reference forwards for occlusion.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "actif/attribution.hpp"
#include "actif/forward.hpp"
#include "actif/kernels.hpp"
#include "actif/running_stats.hpp"
#include "harness.hpp"
#include "isa_loop.hpp"
#include "reference.hpp"

using namespace actif_test;

namespace {

const actif::Pooling kPoolings[] = {actif::Pooling::Last, actif::Pooling::Mean, actif::Pooling::Max};
const actif::Activation kActs[] = {actif::Activation::Relu, actif::Activation::Elu, actif::Activation::Tanh,
                                   actif::Activation::Sigmoid, actif::Activation::Identity};

// Model k of a sweep: pooling, activations, depth and affines vary with k.
ModelShape attribution_shape(int64_t hidden, int k) {
  ModelShape s;
  s.input_size = 3;
  s.hidden = k % 2 ? std::vector<int64_t>{hidden, 5} : std::vector<int64_t>{hidden};
  s.pooling = kPoolings[k % 3];
  s.window = 4;
  s.input_affine = k % 2 == 0;
  s.post_affine = k % 3 != 1;
  s.dense = k % 4 ? std::vector<int64_t>{6, 3} : std::vector<int64_t>{};
  s.act = kActs[k % 5];
  s.out_act = kActs[(k + 2) % 5];
  return s;
}

double ref_output(const RefModel& m, const std::vector<float>& window, int64_t t, int64_t target) {
  return ref_windows(m, window, 1, t, actif::TraceKind::None).y[static_cast<size_t>(target)];
}

// d y[target] / d x of one window (t, I) by central differences in double; the steps
// 2^-10 are exact in float for the inputs used (|x| < 4).
std::vector<double> ref_gradient(const RefModel& m, const std::vector<float>& window, int64_t t, int64_t target) {
  const double eps = 1.0 / 1024.0;
  std::vector<double> g(window.size());
  std::vector<float> probe = window;
  for (size_t i = 0; i < window.size(); ++i) {
    probe[i] = static_cast<float>(window[i] + eps);
    const double up = ref_output(m, probe, t, target);
    probe[i] = static_cast<float>(window[i] - eps);
    const double down = ref_output(m, probe, t, target);
    probe[i] = window[i];
    g[i] = (up - down) / (2.0 * eps);
  }
  return g;
}

std::vector<float> window_of(const std::vector<float>& x, int64_t w, int64_t win) {
  return std::vector<float>(x.begin() + w * win, x.begin() + (w + 1) * win);
}

// max |got - want| <= rtol * max |want| + atol: the max-normalised error the Python
// parity tests use for attributions (elementwise bounds fail on near-zero entries).
void check_attribution(const std::string& what, const float* got, const std::vector<double>& want, double rtol,
                       double atol = 1e-7) {
  double worst = 0.0, scale = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  CHECK_MSG(worst <= rtol * scale + atol, what + ": max error " + std::to_string(worst) + " against max |want| " +
                                              std::to_string(scale));
}

actif::AttributionRequest request(const std::vector<float>& x, int64_t n, int64_t t, actif::AttributionMethod method,
                                  int64_t target, float* y, float* values) {
  actif::AttributionRequest req;
  req.x = x.data();
  req.n = n;
  req.t = t;
  req.method = method;
  req.target = target;
  req.y = y;
  req.values = values;
  req.num_threads = 1;
  return req;
}

}  // namespace

TEST_CASE(attribution, integral_points_match_captum) {
  // numpy.polynomial.legendre.leggauss(3) rescaled to [0, 1] as Captum does.
  std::vector<double> a, w;
  actif::integral_points(actif::IntegralRule::GaussLegendre, 3, a, w);
  const double r = std::sqrt(0.6);
  const std::vector<double> want_a = {0.5 * (1 - r), 0.5, 0.5 * (1 + r)}, want_w = {5.0 / 18, 8.0 / 18, 5.0 / 18};
  for (size_t i = 0; i < 3; ++i) {
    CHECK(std::fabs(a[i] - want_a[i]) < 1e-15);
    CHECK(std::fabs(w[i] - want_w[i]) < 1e-15);
  }
  // Exact for polynomials of degree 2n - 1: integral of x^k over [0, 1] is 1 / (k + 1).
  for (const int64_t n : {1, 2, 7, 50, 301}) {
    actif::integral_points(actif::IntegralRule::GaussLegendre, n, a, w);
    for (int64_t k = 0; k < std::min<int64_t>(2 * n, 40); ++k) {
      double sum = 0.0;
      for (size_t i = 0; i < a.size(); ++i) sum += w[i] * std::pow(a[i], static_cast<double>(k));
      CHECK_MSG(std::fabs(sum - 1.0 / static_cast<double>(k + 1)) < 1e-13,
                "n=" + std::to_string(n) + " k=" + std::to_string(k) + " sum " + std::to_string(sum));
    }
    CHECK(std::is_sorted(a.begin(), a.end()));
  }
  actif::integral_points(actif::IntegralRule::RiemannTrapezoid, 5, a, w);
  CHECK(a.front() == 0.0 && a.back() == 1.0 && w.front() == 0.1 && w[2] == 0.2);
  actif::integral_points(actif::IntegralRule::RiemannLeft, 4, a, w);
  CHECK(a.front() == 0.0 && std::fabs(a.back() - 0.75) < 1e-15);
  actif::integral_points(actif::IntegralRule::RiemannMiddle, 4, a, w);
  CHECK(std::fabs(a.front() - 0.125) < 1e-15 && std::fabs(a.back() - 0.875) < 1e-15);
  bool threw = false;
  try {
    actif::integral_points(actif::IntegralRule::RiemannRight, 1, a, w);
  } catch (const actif::Error&) {
    threw = true;
  }
  CHECK(threw);
}

TEST_CASE(attribution, gradient_and_occlusion_match_reference) {
  int k = 0;
  for (const int64_t hidden : {1, 7, 8, 9, 63, 64, 65}) {
    ++k;
    const RefModel ref = random_ref_model(attribution_shape(hidden, k), 300 + static_cast<uint64_t>(hidden));
    const actif::Model model = build_model(ref);
    const int64_t I = ref.input_size, O = ref.output_size(), n = 3, t = 4, win = t * I;
    const int64_t target = O - 1;
    Rng rng(400 + static_cast<uint64_t>(hidden));
    const std::vector<float> x = rng.uniform_vec(static_cast<size_t>(n * win), -2.0f, 2.0f);
    const std::vector<float> base = rng.uniform_vec(static_cast<size_t>(I), -0.5f, 0.5f);
    const RefWindows at_x = ref_windows(ref, x, n, t, actif::TraceKind::None);
    std::vector<double> want_grad, want_occ;
    for (int64_t w = 0; w < n; ++w) {
      const std::vector<float> xw = window_of(x, w, win);
      const std::vector<double> g = ref_gradient(ref, xw, t, target);
      for (int64_t i = 0; i < win; ++i) want_grad.push_back(xw[static_cast<size_t>(i)] * g[static_cast<size_t>(i)]);
      std::vector<double> occ(static_cast<size_t>(win));
      for (int64_t j = 0; j < I; ++j) {
        std::vector<float> ablated = xw;
        for (int64_t s = 0; s < t; ++s) ablated[static_cast<size_t>(s * I + j)] = base[static_cast<size_t>(j)];
        const double a = at_x.y[static_cast<size_t>(w * O + target)] - ref_output(ref, ablated, t, target);
        for (int64_t s = 0; s < t; ++s) occ[static_cast<size_t>(s * I + j)] = a;
      }
      want_occ.insert(want_occ.end(), occ.begin(), occ.end());
    }
    for_each_isa([&](const std::string& isa) {
      const std::string where = isa + " H=" + std::to_string(hidden) + " pooling=" + actif::to_string(ref.pooling);
      Guarded y(n * O), v(n * win);
      actif::AttributionRequest req =
          request(x, n, t, actif::AttributionMethod::Gradient, target, y.data(), v.data());
      actif::attribute_windows(model, req);
      CHECK_CLOSE(where + " gradient y", y.data(), at_x.y.data(), n * O, kPrediction);
      check_attribution(where + " gradient x input", v.data(), want_grad, 1e-4);
      CHECK_MSG(y.guards_intact() && v.guards_intact(), where + ": gradient wrote outside");

      Guarded y2(n * O), v2(n * win);
      req = request(x, n, t, actif::AttributionMethod::Occlusion, target, y2.data(), v2.data());
      req.baseline = base.data();
      actif::attribute_windows(model, req);
      CHECK_CLOSE(where + " occlusion y", y2.data(), at_x.y.data(), n * O, kPrediction);
      // Differences of two predictions: float32 rounding of y itself bounds the error.
      double y_scale = 0.0;
      for (double yv : at_x.y) y_scale = std::max(y_scale, std::fabs(yv));
      check_attribution(where + " occlusion", v2.data(), want_occ, 1e-4, 1e-6 * y_scale);
      CHECK_MSG(y2.guards_intact() && v2.guards_intact(), where + ": occlusion wrote outside");
    });
  }
}

TEST_CASE(attribution, integrated_gradients_match_reference) {
  int k = 0;
  for (const int64_t hidden : {1, 8, 9, 64, 65}) {
    ++k;
    const RefModel ref = random_ref_model(attribution_shape(hidden, k), 500 + static_cast<uint64_t>(hidden));
    const actif::Model model = build_model(ref);
    const int64_t I = ref.input_size, O = ref.output_size(), n = 2, t = 3, win = t * I, target = 0;
    Rng rng(600 + static_cast<uint64_t>(hidden));
    const std::vector<float> x = rng.uniform_vec(static_cast<size_t>(n * win), -2.0f, 2.0f);
    const std::vector<float> base = actif::default_baseline(model);
    for (const actif::IntegralRule rule : {actif::IntegralRule::GaussLegendre, actif::IntegralRule::RiemannTrapezoid}) {
      const int64_t steps = 6;
      std::vector<double> alphas, weights;
      actif::integral_points(rule, steps, alphas, weights);
      std::vector<double> want, want_delta;
      for (int64_t w = 0; w < n; ++w) {
        const std::vector<float> xw = window_of(x, w, win);
        std::vector<double> sum(static_cast<size_t>(win), 0.0);
        for (int64_t s = 0; s < steps; ++s) {
          std::vector<float> point(static_cast<size_t>(win));
          const float a = static_cast<float>(alphas[static_cast<size_t>(s)]);
          for (int64_t i = 0; i < win; ++i) {
            const float b = base[static_cast<size_t>(i % I)];
            point[static_cast<size_t>(i)] = b + a * (xw[static_cast<size_t>(i)] - b);
          }
          const std::vector<double> g = ref_gradient(ref, point, t, target);
          for (int64_t i = 0; i < win; ++i) sum[static_cast<size_t>(i)] += weights[static_cast<size_t>(s)] * g[static_cast<size_t>(i)];
        }
        double total = 0.0;
        for (int64_t i = 0; i < win; ++i) {
          const double v = (static_cast<double>(xw[static_cast<size_t>(i)]) - base[static_cast<size_t>(i % I)]) *
                           sum[static_cast<size_t>(i)];
          want.push_back(v);
          total += v;
        }
        std::vector<float> bw(static_cast<size_t>(win));
        for (int64_t i = 0; i < win; ++i) bw[static_cast<size_t>(i)] = base[static_cast<size_t>(i % I)];
        want_delta.push_back(total - (ref_output(ref, xw, t, target) - ref_output(ref, bw, t, target)));
      }
      for_each_isa([&](const std::string& isa) {
        const std::string where = isa + " H=" + std::to_string(hidden) + " rule=" + actif::to_string(rule);
        Guarded y(n * O), v(n * win), d(n);
        actif::AttributionRequest req = request(x, n, t, actif::AttributionMethod::Integrated, target, y.data(), v.data());
        req.n_steps = steps;
        req.rule = rule;
        req.delta = d.data();
        actif::attribute_windows(model, req);
        check_attribution(where + " integrated", v.data(), want, 1e-4);
        double scale = 0.0;
        for (double a : want) scale = std::max(scale, std::fabs(a));
        check_attribution(where + " delta", d.data(), want_delta, 0.0, 1e-5 * scale + 1e-6);
        CHECK_MSG(y.guards_intact() && v.guards_intact() && d.guards_intact(), where + ": wrote outside");
      });
    }
  }
}

TEST_CASE(attribution, statistics_threads_and_state) {
  const RefModel ref = random_ref_model(attribution_shape(16, 3), 700);
  const actif::Model model = build_model(ref);
  const int64_t I = ref.input_size, O = ref.output_size(), n = 301, t = 4, win = t * I;  // enough work for threads
  Rng rng(701);
  const std::vector<float> x = rng.uniform_vec(static_cast<size_t>(n * win), -2.0f, 2.0f);
  for (const auto method : {actif::AttributionMethod::Gradient, actif::AttributionMethod::Integrated,
                            actif::AttributionMethod::Occlusion}) {
    const std::string where = actif::to_string(method);
    std::vector<float> y1(static_cast<size_t>(n * O)), v1(static_cast<size_t>(n * win));
    actif::AttributionRequest req = request(x, n, t, method, 1, y1.data(), v1.data());
    req.n_steps = 5;
    actif::attribute_windows(model, req);
    // Threads split windows only: bit-identical results.
    std::vector<float> y4(y1.size()), v4(v1.size());
    req.y = y4.data();
    req.values = v4.data();
    req.num_threads = 4;
    actif::RunningStats abs_stats(I), signed_stats(I);
    req.abs_stats = &abs_stats;
    req.signed_stats = &signed_stats;
    actif::attribute_windows(model, req);
    CHECK_MSG(v1 == v4 && y1 == y4, where + ": threads changed the result");
    actif::RunningStats want_abs(I), want_signed(I);
    std::vector<float> a(v1.size());
    for (size_t i = 0; i < a.size(); ++i) a[i] = std::fabs(v1[i]);
    want_abs.update(a.data(), n * t, I);
    want_signed.update(v1.data(), n * t, I);
    CHECK_MSG(abs_stats.to_bytes() == want_abs.to_bytes(), where + ": |A| statistics differ");
    CHECK_MSG(signed_stats.to_bytes() == want_signed.to_bytes(), where + ": signed statistics differ");

    // A window continued from the state its prefix left equals the whole sequence's
    // prediction (last pooling), and a zero initial state equals no initial state.
    std::vector<float> zeros_h(static_cast<size_t>(n * 16), 0.0f), zeros_h2(static_cast<size_t>(n * 5), 0.0f);
    std::vector<float> y0(y1.size()), v0(v1.size());
    req = request(x, n, t, method, 1, y0.data(), v0.data());
    req.n_steps = 5;
    req.h0 = {zeros_h.data(), zeros_h2.data()};
    req.c0 = {zeros_h.data(), zeros_h2.data()};
    actif::attribute_windows(model, req);
    CHECK_MSG(v0 == v1 && y0 == y1, where + ": a zero initial state differs from none");
  }
}

TEST_CASE(attribution, initial_state_continues_the_stream) {
  ModelShape shape = attribution_shape(9, 1);  // two layers
  shape.pooling = actif::Pooling::Last;
  const RefModel ref = random_ref_model(shape, 800);
  const actif::Model model = build_model(ref);
  const int64_t I = ref.input_size, O = ref.output_size(), prefix = 3, t = 4;
  Rng rng(801);
  const std::vector<float> x = rng.uniform_vec(static_cast<size_t>((prefix + t) * I), -2.0f, 2.0f);
  // The state after the prefix, from the forward's own activations.
  std::vector<std::vector<float>> h(2), c(2);
  std::vector<float> yp(static_cast<size_t>(O));
  actif::WindowRequest fw = window_request(x.data(), 1, prefix, yp.data());
  std::vector<std::vector<float>> hs(2), cs(2);
  for (size_t l = 0; l < 2; ++l) {
    const int64_t H = ref.lstm[l].hidden;
    hs[l].resize(static_cast<size_t>(prefix * H));
    cs[l].resize(static_cast<size_t>(prefix * H));
    fw.layers.push_back({hs[l].data(), cs[l].data(), nullptr});
  }
  actif::window_forward(model, fw);
  actif::AttributionRequest req;
  req.x = x.data() + prefix * I;
  req.n = 1;
  req.t = t;
  req.num_threads = 1;
  for (size_t l = 0; l < 2; ++l) {
    const int64_t H = ref.lstm[l].hidden;
    h[l].assign(hs[l].end() - H, hs[l].end());
    c[l].assign(cs[l].end() - H, cs[l].end());
    req.h0.push_back(h[l].data());
    req.c0.push_back(c[l].data());
  }
  std::vector<float> y(static_cast<size_t>(O)), v(static_cast<size_t>(t * I));
  req.y = y.data();
  req.values = v.data();
  actif::attribute_windows(model, req);
  const RefWindows whole = ref_windows(ref, x, 1, prefix + t, actif::TraceKind::None);
  CHECK_CLOSE("prediction from the carried state", y.data(), whole.y.data(), O, kPrediction);
  // The gradient is truncated at the state: it equals the whole sequence's gradient
  // only on the window's own samples when the prefix's are taken as constants, which is
  // what finite differences of the window's samples alone measure.
  std::vector<double> want(static_cast<size_t>(t * I));
  const double eps = 1.0 / 1024.0;
  std::vector<float> probe = x;
  for (int64_t i = 0; i < t * I; ++i) {
    const size_t at = static_cast<size_t>(prefix * I + i);
    probe[at] = static_cast<float>(x[at] + eps);
    const double up = ref_windows(ref, probe, 1, prefix + t, actif::TraceKind::None).y[0];
    probe[at] = static_cast<float>(x[at] - eps);
    const double down = ref_windows(ref, probe, 1, prefix + t, actif::TraceKind::None).y[0];
    probe[at] = x[at];
    want[static_cast<size_t>(i)] = x[at] * (up - down) / (2.0 * eps);
  }
  check_attribution("gradient from the carried state", v.data(), want, 1e-4);
}

TEST_CASE(attribution, stream_history_keeps_and_restores_its_windows) {
  // A history that took 6 samples (window 4) gives the window of the last 4 and the
  // state the oldest started from; held() and assign() carry it into another history,
  // also when the restored oldest sample did not start from zero.
  const RefModel ref = random_ref_model(attribution_shape(5, 1), 810);  // two layers
  const actif::Model model = build_model(ref);
  const int64_t I = ref.input_size, window = model.window;
  Rng rng(811);
  actif::StreamHistory history(model, 1);
  std::vector<std::vector<float>> states;  // state after sample s: layer 0 h, c, layer 1 h, c
  for (int64_t s = 0; s < 6; ++s) {
    const std::vector<float> x = rng.uniform_vec(static_cast<size_t>(I), -1.0f, 1.0f);
    std::vector<std::vector<float>> hc;
    for (const auto& l : ref.lstm) {
      hc.push_back(rng.uniform_vec(static_cast<size_t>(l.hidden), -1.0f, 1.0f));
      hc.push_back(rng.uniform_vec(static_cast<size_t>(l.hidden), -1.0f, 1.0f));
    }
    history.commit(x.data(), {hc[0].data(), hc[2].data()}, {hc[1].data(), hc[3].data()});
    for (auto& v : hc) states.push_back(std::move(v));
  }
  auto window_of_history = [&](actif::StreamHistory& h) {
    actif::AttributionRequest req;
    h.fill_request(req);
    std::vector<float> out(req.x, req.x + req.n * req.t * I);
    for (size_t l = 0; l < req.h0.size(); ++l) {
      const int64_t H = ref.lstm[l].hidden;
      out.insert(out.end(), req.h0[l], req.h0[l] + H);
      out.insert(out.end(), req.c0[l], req.c0[l] + H);
    }
    return std::make_pair(req.t, out);
  };
  const auto [t, held_window] = window_of_history(history);
  CHECK(t == window);
  // the oldest held sample is sample 2: it started from the state sample 1 left
  CHECK(std::equal(states[4].begin(), states[4].end(), held_window.end() - 2 * 5 - 2 * ref.lstm[0].hidden));
  std::vector<float> x;
  std::vector<std::vector<float>> h_into, c_into;
  history.held(x, h_into, c_into);
  CHECK(static_cast<int64_t>(x.size()) == window * I && h_into.size() == 2);
  const std::vector<const float*> h_now = {states[20].data(), states[22].data()};
  const std::vector<const float*> c_now = {states[21].data(), states[23].data()};
  actif::StreamHistory whole(model, 1), part(model, 1);
  whole.assign(window, x, h_into, c_into, h_now, c_now);
  CHECK(window_of_history(whole).second == held_window);
  // the last 3 only: their oldest (sample 3) started from the state sample 2 left
  std::vector<float> x3(x.begin() + I, x.end());
  std::vector<std::vector<float>> h3, c3;
  for (size_t l = 0; l < 2; ++l) {
    const int64_t H = ref.lstm[l].hidden;
    h3.emplace_back(h_into[l].begin() + H, h_into[l].end());
    c3.emplace_back(c_into[l].begin() + H, c_into[l].end());
  }
  part.assign(3, x3, h3, c3, h_now, c_now);
  CHECK(part.length() == 3);
  const auto [t3, part_window] = window_of_history(part);
  CHECK(t3 == 3 && std::equal(states[8].begin(), states[8].end(), part_window.begin() + 3 * I));
  std::vector<float> x_back;
  std::vector<std::vector<float>> h_back, c_back;
  part.held(x_back, h_back, c_back);
  CHECK(x_back == x3 && h_back == h3 && c_back == c3);
  // refused before anything changes: too many samples, NaN
  bool threw = false;
  try {
    part.assign(window + 1, std::vector<float>(static_cast<size_t>((window + 1) * I)), h_into, c_into, h_now, c_now);
  } catch (const actif::Error&) {
    threw = true;
  }
  CHECK(threw && part.length() == 3);
  threw = false;
  h3[1][0] = std::nanf("");
  try {
    part.assign(3, x3, h3, c3, h_now, c_now);
  } catch (const actif::Error&) {
    threw = true;
  }
  CHECK(threw && window_of_history(part).second == part_window);
}

TEST_CASE(attribution, rejects_bad_requests_before_writing) {
  const RefModel ref = random_ref_model(attribution_shape(8, 2), 900);
  const actif::Model model = build_model(ref);
  const int64_t I = ref.input_size, O = ref.output_size(), n = 2, t = 3;
  Rng rng(901);
  std::vector<float> x = rng.uniform_vec(static_cast<size_t>(n * t * I), -1.0f, 1.0f);
  const std::vector<float> bad_base(static_cast<size_t>(I), std::nanf(""));
  auto rejected = [&](const std::string& what, auto&& edit) {
    Guarded y(n * O), v(n * t * I), d(n);
    actif::RunningStats stats(I);
    actif::AttributionRequest req = request(x, n, t, actif::AttributionMethod::Integrated, 0, y.data(), v.data());
    req.delta = d.data();
    req.abs_stats = &stats;
    edit(req);
    bool threw = false;
    try {
      actif::attribute_windows(model, req);
    } catch (const actif::Error&) {
      threw = true;
    }
    CHECK_MSG(threw, what + " was accepted");
    bool untouched = stats.count() == 0;
    for (int64_t i = 0; i < y.n; ++i) untouched = untouched && std::isnan(y.data()[i]);
    for (int64_t i = 0; i < v.n; ++i) untouched = untouched && std::isnan(v.data()[i]);
    for (int64_t i = 0; i < d.n; ++i) untouched = untouched && std::isnan(d.data()[i]);
    CHECK_MSG(untouched, what + ": something was written");
  };
  rejected("target = O", [&](actif::AttributionRequest& r) { r.target = O; });
  rejected("target = -1", [&](actif::AttributionRequest& r) { r.target = -1; });
  rejected("n_steps = 0", [&](actif::AttributionRequest& r) { r.n_steps = 0; });
  rejected("riemann with 1 step", [&](actif::AttributionRequest& r) {
    r.n_steps = 1;
    r.rule = actif::IntegralRule::RiemannLeft;
  });
  rejected("NaN baseline", [&](actif::AttributionRequest& r) { r.baseline = bad_base.data(); });
  rejected("delta for occlusion", [&](actif::AttributionRequest& r) { r.method = actif::AttributionMethod::Occlusion; });
  actif::RunningStats wrong(I + 1);
  rejected("statistics of another size", [&](actif::AttributionRequest& r) { r.abs_stats = &wrong; });
  rejected("half an initial state", [&](actif::AttributionRequest& r) { r.h0 = {x.data()}; });
  std::vector<float> x_nan = x;
  x_nan.back() = std::nanf("");
  rejected("NaN input", [&](actif::AttributionRequest& r) { r.x = x_nan.data(); });
}
