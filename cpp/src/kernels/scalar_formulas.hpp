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

}  // namespace scalar
}  // namespace actif
