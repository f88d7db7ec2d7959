// actif: the model graph held by the native core.
//
// A model is: optional input affine -> stacked LSTM layers -> temporal pooling ->
// optional per-channel affine (folded BatchNorm) -> dense layers. Weights arrive in
// PyTorch layout (W_ih (4H, I), W_hh (4H, H), gate order i, f, g, o) and are stored
// transposed ((I, 4H), (H, 4H)) and packed (packed_matrix.hpp), so that the forward
// pass is GEMMs whose inner loop runs over the 4H outputs; the two LSTM biases are
// summed once here.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "actif/constants.hpp"
#include "actif/packed_matrix.hpp"

namespace actif {

enum class Pooling { Last, Mean, Max };
enum class Activation { Identity, Relu, Elu, Tanh, Sigmoid };
// Which per-feature trace to compute (see python/actif/traces.py for definitions).
enum class TraceKind { None, Input, Weighted, Gates, Paper };

Pooling parse_pooling(const std::string& name);
Activation parse_activation(const std::string& name);
TraceKind parse_trace(const std::string& name);  // "" or "none" -> None
const char* to_string(Pooling p);
const char* to_string(Activation a);
const char* to_string(TraceKind t);

// Bound on every layer size and on the window (constants.json, as model_spec.py).
constexpr int64_t kMaxDim = limits::kMaxDim;

// The input rule's per-model setting by default (inputs beyond it are treated as sensor
// garbage) and the largest magnitude any value computed from an accepted input may
// reach; both from constants.json, which Python reads too.
constexpr double kDefaultMaxAbs = input_rule::kDefaultMaxAbs;
constexpr double kFloat32Budget = input_rule::kFloat32Budget;

// Thrown for malformed models or bad arguments; the Python binding maps it to ValueError.
class Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// An input value that breaks the input rule; index() is the flat index of the first
// rejected value in the caller's array. Nothing was changed when it is thrown.
class InputError : public Error {
 public:
  InputError(const std::string& message, int64_t index) : Error(message), index_(index) {}
  int64_t index() const { return index_; }

 private:
  int64_t index_;
};

struct LstmLayer {
  int64_t hidden_size = 0;
  PackedMatrix w_ih_t;  // (I, 4H)
  PackedMatrix w_hh_t;  // (H, 4H)
  std::vector<float> bias;    // (4H) = b_ih + b_hh
  // The reverse pass (attribution.hpp) multiplies by the untransposed weights:
  PackedMatrix w_ih;    // (4H, I), PyTorch layout
  PackedMatrix w_hh;    // (4H, H)
  // LRP's relevance reaches the input and h_prev through the cell input g only:
  PackedMatrix w_ig;    // (H, I), the g rows of w_ih
  PackedMatrix w_hg;    // (H, H), the g rows of w_hh
};

struct DenseLayer {
  int64_t in_features = 0;
  int64_t out_features = 0;
  PackedMatrix w_t;         // (in, out)
  std::vector<float> bias;  // (out)
  Activation activation = Activation::Identity;
  PackedMatrix w;           // (out, in), PyTorch layout, for the reverse pass
};

struct Model {
  int64_t input_size = 0;
  int64_t window = 1;                   // trained window length T (stateful pooling ring)
  std::vector<float> input_scale;       // (I) or empty
  std::vector<float> input_shift;       // (I) or empty
  std::vector<LstmLayer> lstm;
  Pooling pooling = Pooling::Last;
  std::vector<float> post_scale;        // (H_top) or empty
  std::vector<float> post_shift;        // (H_top) or empty
  std::vector<DenseLayer> dense;

  // Derived once for the traces (first layer only):
  PackedMatrix trace_route;             // "weighted": U (H0, I), U[k,j] = sum_g |W_ih[g*H0+k, j]|
  PackedMatrix trace_abs_w_ih;          // "gates": |W_ih| (4H0, I)

  // The input rule (docs/architecture.md, "Where each rule lives"): a value is accepted when it is
  // finite and |v| <= input_limit(), compared in float32. overflow_bound is derived
  // once by ModelBuilder (overflow_safe_bound) so that no accepted input can overflow
  // float32 anywhere in the model; max_abs is the per-model setting on top of it
  // (+inf: none, only the overflow bound applies). Every adapter (Python binding, C
  // API) applies this one rule through first_invalid_input / check_*_input below.
  double overflow_bound = kFloat32Budget;
  double max_abs = kDefaultMaxAbs;
  double input_limit() const { return max_abs < overflow_bound ? max_abs : overflow_bound; }
  float input_limit_f32() const { return static_cast<float>(input_limit()); }

  int64_t hidden_top() const { return lstm.back().hidden_size; }
  int64_t output_size() const { return dense.empty() ? hidden_top() : dense.back().out_features; }
};

// The largest input magnitude B for which no value computed from the inputs can
// overflow float32: the input affine, the first layer's pre-activations and every
// trace (|h|, |gates| <= 1, so deeper layers see bounded values). A conservative bound
// from the first layer's weights (w_ih (4H, I), w_hh (4H, H), PyTorch layout) and the
// optional input affine (null: none); at most kFloat32Budget. Computed in float64;
// python/actif/model.py's overflow_safe_abs is its NumPy twin (used without the core).
double overflow_safe_bound(int64_t input_size, int64_t hidden_size, const float* input_scale,
                           const float* input_shift, const float* w_ih, const float* w_hh, const float* b_ih,
                           const float* b_hh);

// Flat index of the first value of x[0..n) that breaks the input rule (NaN, Inf or
// |v| > limit), or -1.
int64_t first_invalid_input(const float* x, int64_t n, float limit);

// Apply the input rule to windows x (n, t, I) / consecutive samples x (m, batch, I);
// throw InputError naming the window or step, the row (stream) and the feature of the first
// rejected value. `what` names the array in the message.
void check_windows_input(const Model& m, const float* x, int64_t n, int64_t t, const char* what = "x");
void check_samples_input(const Model& m, const float* x, int64_t steps, int64_t batch, const char* what = "x");

// Builds a Model from arrays in PyTorch layout, checking every size. All pointers are
// read (and copied) during the call only.
class ModelBuilder {
 public:
  ModelBuilder& input_affine(int64_t n, const float* scale, const float* shift);
  // w_ih (4H, I) and w_hh (4H, H) row-major; I must equal the previous layer's H.
  ModelBuilder& lstm(int64_t input_size, int64_t hidden_size, const float* w_ih, const float* w_hh,
                     const float* b_ih, const float* b_hh);
  ModelBuilder& pooling(Pooling p, int64_t window);
  ModelBuilder& post_affine(int64_t n, const float* scale, const float* shift);
  // weight (out, in) row-major as in torch.nn.Linear.
  ModelBuilder& dense(int64_t in, int64_t out, const float* weight, const float* bias, Activation act);
  // The input rule's per-model setting (> 0; +inf: none). Default kDefaultMaxAbs.
  ModelBuilder& max_abs(double value);
  Model build();

 private:
  Model m_;
  bool pooled_ = false;
};

}  // namespace actif
