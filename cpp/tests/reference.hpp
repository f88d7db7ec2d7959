// The double-precision reference the tests hold the float32 core to: an LSTM model
// written out loop by loop from python/actif/reference.py and docs/concepts.md ("From
// activations to input features", "Scores"), sharing no code with the library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "actif/forward.hpp"
#include "actif/model.hpp"
#include "harness.hpp"

namespace actif_test {

struct RefLstm {
  int64_t in = 0, hidden = 0;
  std::vector<double> w_ih, w_hh, b_ih, b_hh;  // PyTorch layout (4H, I), (4H, H)
};

struct RefDense {
  int64_t in = 0, out = 0;
  std::vector<double> w, b;  // (out, in)
  actif::Activation act = actif::Activation::Identity;
};

struct RefModel {
  int64_t input_size = 0, window = 1;
  std::vector<double> in_scale, in_shift;  // empty or (I)
  std::vector<RefLstm> lstm;
  actif::Pooling pooling = actif::Pooling::Last;
  std::vector<double> post_scale, post_shift;  // empty or (H_top)
  std::vector<RefDense> dense;
  int64_t output_size() const { return dense.empty() ? lstm.back().hidden : dense.back().out; }
};

struct ModelShape {
  int64_t input_size = 5;
  std::vector<int64_t> hidden = {8};
  actif::Pooling pooling = actif::Pooling::Last;
  int64_t window = 6;
  bool input_affine = true;
  bool post_affine = true;
  std::vector<int64_t> dense = {4, 2};  // widths; empty: no head
  actif::Activation act = actif::Activation::Relu;
  actif::Activation out_act = actif::Activation::Identity;
};

// Random weights (PyTorch-style uniform(-1/sqrt(H), 1/sqrt(H))), float32-exact.
RefModel random_ref_model(const ModelShape& shape, uint64_t seed);
// The same model as the library's float32 Model.
actif::Model build_model(const RefModel& ref);

struct RefWindows {
  std::vector<double> y;                          // (N, O)
  std::vector<std::vector<double>> h, c, gates;   // per layer (N, T, H), (N, T, H), (N, T, 4H)
  std::vector<double> trace;                      // (N, T, I) when a trace was asked
};

// Window mode: each of the n windows of t steps from a zero state.
RefWindows ref_windows(const RefModel& m, const std::vector<float>& x, int64_t n, int64_t t, actif::TraceKind trace);

// Stateful mode: one stream fed `steps` samples; y (steps, O) and trace (steps, I).
void ref_stream(const RefModel& m, const std::vector<float>& x, int64_t steps, actif::TraceKind trace,
                std::vector<double>& y, std::vector<double>& trace_out);

// Column means and population standard deviations of rows (rows, n), two passes.
void ref_moments(const std::vector<double>& rows, int64_t n, std::vector<double>& mean, std::vector<double>& std);
// DeepACTIF scores (method: inverse, mean, meanstd, pen).
std::vector<double> ref_scores(const std::string& method, const std::vector<double>& mean,
                               const std::vector<double>& std);

double ref_activation(actif::Activation a, double v);

// A request for n windows of t steps into y, nothing else asked for, one thread.
actif::WindowRequest window_request(const float* x, int64_t n, int64_t t, float* y);

}  // namespace actif_test
