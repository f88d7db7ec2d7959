// Portable reference kernels: plain loops, libm nonlinearities. Every other ISA is
// checked against these (force_isa("scalar")). The compiler may still auto-vectorise
// them for the baseline ISA; results per element do not depend on that.
#include <math.h>

#include <algorithm>

#include "actif/kernels.hpp"

namespace actif {

namespace {

inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

void gemm(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc, const float* bias,
          bool accumulate) {
  constexpr int64_t kP = PackedMatrix::kPanel;
  for (int64_t i = 0; i < m; ++i) {
    float* crow = c + i * ldc;
    const float* arow = a + i * lda;
    for (int64_t p = 0; p < PackedMatrix::panels(b.n); ++p) {
      const float* bp = b.panel(p);
      const int64_t j0 = p * kP, width = std::min(kP, b.n - j0);
      float acc[kP] = {};
      for (int64_t j = 0; j < width; ++j) acc[j] = (accumulate ? crow[j0 + j] : 0.0f) + (bias ? bias[j0 + j] : 0.0f);
      for (int64_t q = 0; q < b.k; ++q) {
        const float av = arow[q];
        for (int64_t j = 0; j < kP; ++j) acc[j] += av * bp[q * kP + j];
      }
      for (int64_t j = 0; j < width; ++j) crow[j0 + j] = acc[j];
    }
  }
}

void lstm_cell(int64_t rows, int64_t hidden, const float* z, int64_t ldz, const float* c_prev, int64_t ldc_prev,
               float* c_out, int64_t ldc_out, float* h_out, int64_t ldh, float* gates, int64_t ldg) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* zr = z + r * ldz;
    for (int64_t j = 0; j < hidden; ++j) {
      const float i = sigmoid(zr[j]);
      const float f = sigmoid(zr[hidden + j]);
      const float g = tanhf(zr[2 * hidden + j]);
      const float o = sigmoid(zr[3 * hidden + j]);
      const float cp = c_prev ? c_prev[r * ldc_prev + j] : 0.0f;
      const float c = f * cp + i * g;
      c_out[r * ldc_out + j] = c;
      h_out[r * ldh + j] = o * tanhf(c);
      if (gates) {
        float* gr = gates + r * ldg;
        gr[j] = i;
        gr[hidden + j] = f;
        gr[2 * hidden + j] = g;
        gr[3 * hidden + j] = o;
      }
    }
  }
}

void activation(Activation act, int64_t n, float* x) {
  switch (act) {
    case Activation::Identity: return;
    case Activation::Relu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
    case Activation::Elu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : expm1f(x[i]);
      return;
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) x[i] = tanhf(x[i]);
      return;
    case Activation::Sigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = sigmoid(x[i]);
      return;
  }
}

}  // namespace

const KernelSet& scalar_kernels() {
  static const KernelSet set{"scalar", gemm, lstm_cell, activation};
  return set;
}

}  // namespace actif
