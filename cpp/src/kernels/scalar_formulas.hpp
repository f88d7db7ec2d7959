// The per-element formulas of the scalar reference kernels (libm nonlinearities),
// written once: scalar.cpp applies them to every element, the SIMD kernels
// (simd_f32.hpp) to the elements past the last full vector.
//
// Every function here is `static`: each kernel file compiles its own copy with its own
// flags. (An inline function with external linkage would be one symbol for all files,
// and the linker could keep the copy compiled with -mavx2 for code that runs on CPUs
// without AVX2.) Include this header from src/kernels/ only.
#pragma once

#include <math.h>

#include <cstdint>

#include "actif/model.hpp"

namespace actif {
namespace scalar {

static inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// x[i] = act(x[i]) for i in [begin, n).
static inline void activation_range(Activation act, int64_t begin, int64_t n, float* x) {
  switch (act) {
    case Activation::Identity:
      return;
    case Activation::Relu:
      for (int64_t i = begin; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
    case Activation::Elu:
      for (int64_t i = begin; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : expm1f(x[i]);
      return;
    case Activation::Tanh:
      for (int64_t i = begin; i < n; ++i) x[i] = tanhf(x[i]);
      return;
    case Activation::Sigmoid:
      for (int64_t i = begin; i < n; ++i) x[i] = sigmoid(x[i]);
      return;
  }
}

// Hidden units [begin, hidden) of one LSTM row (the argument meanings of
// KernelSet::lstm_cell_f32, already offset to the row; cp and gates may be null).
static inline void lstm_cell_units(int64_t begin, int64_t hidden, const float* z, const float* cp, float* c_out,
                                   float* h_out, float* gates) {
  for (int64_t j = begin; j < hidden; ++j) {
    const float i = sigmoid(z[j]);
    const float f = sigmoid(z[hidden + j]);
    const float g = tanhf(z[2 * hidden + j]);
    const float o = sigmoid(z[3 * hidden + j]);
    const float c = f * (cp ? cp[j] : 0.0f) + i * g;
    c_out[j] = c;
    h_out[j] = o * tanhf(c);
    if (gates) {
      gates[j] = i;
      gates[hidden + j] = f;
      gates[2 * hidden + j] = g;
      gates[3 * hidden + j] = o;
    }
  }
}

// One row of KernelSet::lstm_cell_reverse_f32, units [begin, hidden).
static inline void lstm_cell_reverse_units(int64_t begin, int64_t hidden, const float* gates, const float* tanh_c,
                                           const float* c_prev, const float* dh_in, const float* dh_rec, float* dc_rec,
                                           float* dz) {
  const float* gi = gates;
  const float* gf = gates + hidden;
  const float* gg = gates + 2 * hidden;
  const float* go = gates + 3 * hidden;
  for (int64_t j = begin; j < hidden; ++j) {
    const float dh = dh_in[j] + dh_rec[j];
    const float i = gi[j], f = gf[j], gv = gg[j], o = go[j], tc = tanh_c[j];
    const float dc = dc_rec[j] + dh * o * (1.0f - tc * tc);
    dz[j] = dc * gv * i * (1.0f - i);
    dz[hidden + j] = dc * c_prev[j] * f * (1.0f - f);
    dz[2 * hidden + j] = dc * i * (1.0f - gv * gv);
    dz[3 * hidden + j] = dh * tc * o * (1.0f - o);
    dc_rec[j] = dc * f;
  }
}

// z + eps with z's sign (+eps for +0): LRP's stabilised denominator, the rule
// WindowBatch::stabilised applies in attribution.cpp to the head and the pooling (a
// copy, not a shared inline function: kernel files keep their helpers static).
static inline float lrp_stabilised(float z, float eps) { return z + copysignf(eps, z); }

// One row of KernelSet::lstm_cell_relevance_f32, units [begin, hidden).
static inline void lstm_cell_relevance_units(int64_t begin, int64_t hidden, float eps, const float* gates,
                                             const float* c, const float* c_prev, const float* zg, const float* rh,
                                             const float* carry_h, float* carry_c, float* share) {
  const float* gi = gates;
  const float* gf = gates + hidden;
  const float* gg = gates + 2 * hidden;
  for (int64_t j = begin; j < hidden; ++j) {
    const float per_c = (rh[j] + carry_h[j] + carry_c[j]) / lrp_stabilised(c[j], eps);
    carry_c[j] = gf[j] * c_prev[j] * per_c;
    share[j] = gi[j] * gg[j] * per_c / lrp_stabilised(zg[j], eps);
  }
}

}  // namespace scalar
}  // namespace actif
