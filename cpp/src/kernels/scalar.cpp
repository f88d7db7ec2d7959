// Portable reference kernels: plain loops, libm nonlinearities (the per-element
// formulas of scalar_formulas.hpp). Every other ISA is checked against these
// (force_isa("scalar")). The compiler may still auto-vectorise them for the baseline
// ISA; results per element do not depend on that.
#include <algorithm>

#include "actif/kernels.hpp"
#include "scalar_formulas.hpp"

namespace actif {

namespace {

// One row of C at a time, one 16-column panel of B at a time (packed_matrix.hpp).
void gemm_f32_scalar_1x16(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc,
                          const float* bias, bool accumulate) {
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

void lstm_cell_f32_scalar_x1(int64_t rows, int64_t hidden, const float* z, int64_t ldz, const float* c_prev,
                             int64_t ldc_prev, float* c_out, int64_t ldc_out, float* h_out, int64_t ldh, float* gates,
                             int64_t ldg) {
  for (int64_t r = 0; r < rows; ++r)
    scalar::lstm_cell_units(0, hidden, z + r * ldz, c_prev ? c_prev + r * ldc_prev : nullptr, c_out + r * ldc_out,
                            h_out + r * ldh, gates ? gates + r * ldg : nullptr);
}

void activation_f32_scalar_x1(Activation act, int64_t n, float* x) { scalar::activation_range(act, 0, n, x); }

void lstm_cell_reverse_f32_scalar_x1(int64_t rows, int64_t hidden, const float* gates, int64_t ldg, const float* tanh_c,
                                     int64_t ldt, const float* c_prev, int64_t ldc_prev, const float* dh_in, int64_t ldd,
                                     const float* dh_rec, float* dc_rec, float* dz, int64_t ldz) {
  for (int64_t r = 0; r < rows; ++r)
    scalar::lstm_cell_reverse_units(0, hidden, gates + r * ldg, tanh_c + r * ldt, c_prev + r * ldc_prev, dh_in + r * ldd,
                                    dh_rec + r * hidden, dc_rec + r * hidden, dz + r * ldz);
}

void lstm_cell_relevance_f32_scalar_x1(int64_t rows, int64_t hidden, float eps, const float* gates, int64_t ldg,
                                       const float* c, int64_t ldc, const float* c_prev, int64_t ldc_prev,
                                       const float* zg, int64_t ldzg, const float* rh, int64_t ldr, const float* carry_h,
                                       float* carry_c, float* share, int64_t lds) {
  for (int64_t r = 0; r < rows; ++r)
    scalar::lstm_cell_relevance_units(0, hidden, eps, gates + r * ldg, c + r * ldc, c_prev + r * ldc_prev, zg + r * ldzg,
                                      rh + r * ldr, carry_h + r * hidden, carry_c + r * hidden, share + r * lds);
}

}  // namespace

const KernelSet& scalar_kernels() {
  static const KernelSet set{"scalar",
                             gemm_f32_scalar_1x16,
                             lstm_cell_f32_scalar_x1,
                             activation_f32_scalar_x1,
                             lstm_cell_reverse_f32_scalar_x1,
                             lstm_cell_relevance_f32_scalar_x1};
  return set;
}

}  // namespace actif
