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

// Bound on every layer size and on the window, as model_spec.py's MAX_DIM.
constexpr int64_t kMaxDim = int64_t{1} << 16;

// Thrown for malformed models or bad arguments; the Python binding maps it to ValueError.
class Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct LstmLayer {
  int64_t hidden_size = 0;
  PackedMatrix w_ih_t;  // (I, 4H)
  PackedMatrix w_hh_t;  // (H, 4H)
  std::vector<float> bias;    // (4H) = b_ih + b_hh
  // The reverse pass (attribution.hpp) multiplies by the untransposed weights:
  PackedMatrix w_ih;    // (4H, I), PyTorch layout
  PackedMatrix w_hh;    // (4H, H)
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

  int64_t hidden_top() const { return lstm.back().hidden_size; }
  int64_t output_size() const { return dense.empty() ? hidden_top() : dense.back().out_features; }
};

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
  Model build();

 private:
  Model m_;
  bool pooled_ = false;
};

}  // namespace actif
