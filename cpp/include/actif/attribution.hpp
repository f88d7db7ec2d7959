// actif: signed per-step attributions of one model output to the raw input features.
//
// Five methods; the first four equal (up to float32 rounding) their Captum counterparts
// on the equivalent PyTorch module (python/actif/interchange/torch_module.py):
//
//   gradient    A = x * dy_target/dx                     (Captum InputXGradient)
//   deeplift    A = (x - b) * m, m the gradient at x with each dense activation's
//               derivative replaced by its secant between the pre-activations of x and
//               of the baseline window (DeepLIFT's rescale rule where Captum's DeepLift
//               applies it: on nonlinear modules; the LSTM cell and the pooling pass
//               by their gradient at x)
//   integrated  A = (x - b) * sum_k w_k dy/dx(b + a_k (x - b))   (IntegratedGradients;
//               Gauss-Legendre or Riemann nodes a_k, weights w_k on [0, 1] as Captum's),
//               with the completeness delta sum(A) - (y(x) - y(b)) per window
//   occlusion   A[:, t, j] = y(x) - y(x with feature j at b_j over the whole window)
//               (FeatureAblation, one group per input feature across time)
//   lrp         layer-wise relevance propagation for LSTMs (Arras et al. 2017): y_target
//               handed back with the epsilon rule on every weighted sum, the gates
//               as weights (relevance flows through c and the cell input g only), dense
//               activations and both affines passing it as it is; no baseline, no
//               Captum counterpart (python/actif/attribution.py is its reference)
//
// x is the raw input (before the model's input affine), and so are the baseline b and
// the gradients. The gradient comes from one reverse pass through the head, the
// pooling (max routes to the first arg-max step, as autograd does), the stacked LSTM
// layers and the input affine, reusing the activations a forward of the same windows
// recorded: memory is bounded by the windows in flight (O(T * H) per window), never by
// the number of windows. The interpolation points of a window (integrated) and its
// I + 1 ablated copies (occlusion) run as one batch. Every GEMM is the kernels'
// packed GEMM (kernels.hpp), so the ISA in use (scalar, AVX2, NEON) does the work.
//
// Stateful use: with an initial state (h0, c0 per layer), each window continues from
// it; the gradient is truncated there (the state is a constant), and occlusion and the
// interpolation path change only the window's samples.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "actif/model.hpp"
#include "actif/running_stats.hpp"

namespace actif {

enum class AttributionMethod { Gradient, Integrated, Occlusion, DeepLift, Lrp };
// Captum's integral approximations (captum.attr._utils.approximation_methods).
enum class IntegralRule { GaussLegendre, RiemannLeft, RiemannRight, RiemannMiddle, RiemannTrapezoid };

AttributionMethod parse_attribution_method(const std::string& name);  // gradient | deeplift | integrated | occlusion | lrp
IntegralRule parse_integral_rule(const std::string& name);  // gausslegendre | riemann_{left,right,middle,trapezoid}
const char* to_string(AttributionMethod m);
const char* to_string(IntegralRule r);

// Bound on n_steps (constants.json: limits.max_integral_steps).
constexpr int64_t kMaxIntegralSteps = limits::kMaxIntegralSteps;

// Nodes a_k in [0, 1] and weights w_k of `rule` with n points, as Captum computes them
// (Gauss-Legendre: numpy's leggauss rescaled from [-1, 1]; Riemann: n >= 2).
// Throws actif::Error for an n the rule does not take.
void integral_points(IntegralRule rule, int64_t n, std::vector<double>& alphas, std::vector<double>& weights);

// The raw input whose normalised value is zero (x = -shift / scale; zeros without an
// input affine; 0 where a scale is 0): the default baseline.
std::vector<float> default_baseline(const Model& m);

struct AttributionRequest {
  const float* x = nullptr;  // (N, T, I) raw
  int64_t n = 0;
  int64_t t = 0;
  AttributionMethod method = AttributionMethod::Gradient;
  int64_t target = 0;               // output index in [0, O)
  const float* baseline = nullptr;  // (I) raw; null: default_baseline
  int64_t n_steps = 50;             // integrated only
  IntegralRule rule = IntegralRule::GaussLegendre;
  // Initial state per LSTM layer, (N, H_l) each; empty: every window from zero.
  std::vector<const float*> h0, c0;

  float* y = nullptr;                    // (N, O) prediction at x; required
  float* values = nullptr;               // (N, T, I) signed attributions, or null
  float* delta = nullptr;                // (N) completeness delta (integrated only), or null
  RunningStats* abs_stats = nullptr;     // gets |A| rows (N * T of them), or null
  RunningStats* signed_stats = nullptr;  // gets A rows, or null
  int num_threads = 0;                   // 0: all cores
};

// Checks the whole request (sizes, target, n_steps, baseline finite) and throws
// actif::Error before any output is written; statistics are updated only after the
// whole pass succeeded. Input values are the caller's to check (the input rule).
void attribute_windows(const Model& model, const AttributionRequest& req);

// The last `window` samples of B streams and the LSTM state each held window starts
// from, so that a stream's current prediction can be attributed to the samples that
// made it (stateful mode): the window is re-run from that state, which is held
// constant (the gradient is truncated there). It only observes a stream: after each
// successful step, commit() the sample and the state the step left.
// Memory: window * B * I + (window + 1) * B * 2 * sum(H).
class StreamHistory {
 public:
  StreamHistory() = default;
  StreamHistory(const Model& m, int64_t batch);

  // After a step succeeded: its samples x (B, I) and the state it left (h, c per layer, (B, H_l)).
  void commit(const float* x, const std::vector<const float*>& h, const std::vector<const float*>& c);
  // Forget every sample: the next window starts from the zero state again.
  void reset();
  int64_t batch() const { return batch_; }
  // Samples held per stream: min(steps, window).
  int64_t length() const { return steps_ < window_ ? steps_ : window_; }
  // Points req.x, n, t, h0 and c0 at the held windows (oldest sample first); valid
  // until the next commit. Throws actif::Error before the first sample.
  void fill_request(AttributionRequest& req);

  // What a checkpoint keeps, oldest sample first: x (length, B, I) and, per layer, the
  // state carried into each held sample, h and c (length, B, H_l).
  void held(std::vector<float>& x, std::vector<std::vector<float>>& h_into, std::vector<std::vector<float>>& c_into) const;
  // Replaces what is held (a checkpoint restore) by `count` <= window samples in the
  // layout of held(), followed by the state the last of them left (the stream's, per
  // layer (B, H_l)). Sizes and finiteness are checked before anything changes.
  void assign(int64_t count, const std::vector<float>& x, const std::vector<std::vector<float>>& h_into,
              const std::vector<std::vector<float>>& c_into, const std::vector<const float*>& h_now,
              const std::vector<const float*>& c_now);

 private:
  // The state carried into held sample `s` (0 <= s < steps_, counted from the start).
  const float* state_into(const std::vector<std::vector<float>>& ring, const std::vector<std::vector<float>>& start,
                          size_t layer, int64_t s) const;

  int64_t batch_ = 0, window_ = 0, n_in_ = 0, steps_ = 0;
  std::vector<int64_t> hidden_;
  std::vector<float> samples_;             // ring (window, B, I)
  std::vector<std::vector<float>> h_, c_;  // per layer, ring (window + 1, B, H): state after each sample
  // Per layer (B, H): the state carried into the first sample held (zero unless restored).
  std::vector<std::vector<float>> start_h_, start_c_;
  std::vector<float> x_;                   // gathered windows (B, length, I)
  std::vector<std::vector<float>> h0_, c0_;  // gathered start states (B, H)
};

}  // namespace actif
